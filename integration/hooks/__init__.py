"""Approval-task callbacks of the low-code platform (seeds 001/003, DESIGN "Contracts").

signature  the platform's MD5 signature and Java's CASE_INSENSITIVE_ORDER key order
params     reading a body (form, multipart or JSON) into parameters, strictly
mapping    callback → TodoEventSerializer-shaped events (the mapping is documented there)
service    accept (inbox + CallbackLog in one transaction) and replay
views      POST /hooks/tasks/<source>/<action>
"""
