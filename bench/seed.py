"""Push-log rows written straight with INSERT … SELECT generate_series: a million in seconds,
shaped like what the inbox writes (payloads a transport can send again)."""
from .workload import sql

PAYLOAD = """jsonb_build_object(
    'event_id', {tag} || '-' || g, 'data_set', 'todo', 'business_status', 'arrive',
    'request_id', {tag} || '-r' || (g / 4), 'request_title', '出差申请 ' || (g / 4),
    'workflow_id', 'wf-bench', 'node_name', '部门经理审批', 'creator', 'zhangwei',
    'receiver', 'u' || mod(g, 5000), 'identity', '', 'task_id', 't' || g, 'viewed', false,
    'created_at', to_jsonb(now() - interval '2 hours'),
    'occurred_at', to_jsonb(now() - interval '2 hours' + g * interval '1 millisecond'))"""


def records(config_id, n, tag, outcome="'success'", created="now() - interval '1 hour'",
            start=0, attempts=False, analyze=True):
    """n push records of config `config_id`; `outcome` and `created` are SQL over g.
    `analyze=False` leaves the statistics as they were (a burst the planner has not seen)."""
    tag_sql = "'" + tag.replace("'", "") + "'"
    sql(f"""
        INSERT INTO pushconfig_pushrecord
            (config_id, event_id, kind, idempotency_key, lane, request_id, receiver, identity,
             creator, workflow_id, data_set, business_status, payload, outcome, reason,
             permanent, attempts, compensations, created_at, pushed_at)
        SELECT %s, {tag_sql} || '-' || g, 'event', %s || ':' || {tag_sql} || '-' || g, mod(g, 8),
               {tag_sql} || '-r' || (g / 4), 'u' || mod(g, 5000), '', 'zhangwei', 'wf-bench',
               'todo', 'arrive', {PAYLOAD.format(tag=tag_sql)}, {outcome}, '', false, 1, 0,
               {created}, {created}
        FROM generate_series(%s, %s) AS g
    """, [config_id, str(config_id), start, start + n - 1])
    if attempts:
        sql("""
            INSERT INTO pushconfig_pushattempt
                (record_id, number, started_at, finished_at, outcome, http_status, duration_ms,
                 error_class, request, response)
            SELECT r.id, 1, r.created_at, r.created_at, r.outcome, 200, 2, '',
                   jsonb_build_object('flowid', r.request_id, 'receiver', r.receiver),
                   '{"operResult":"1"}'
            FROM pushconfig_pushrecord r
            WHERE r.config_id = %s AND r.event_id LIKE %s
        """, [config_id, tag + "-%"])
    if analyze:
        sql("ANALYZE pushconfig_pushrecord")
        sql("ANALYZE pushconfig_pushattempt")
