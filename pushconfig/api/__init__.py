"""REST API of unified todo push: push configs, push types and the push log (/api/v1/)."""
