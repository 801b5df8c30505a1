-- Background analysis jobs (POST /api/v1/analyze_async): a Postgres queue. Workers
-- claim with FOR UPDATE SKIP LOCKED and hold a lease (`lease_until`); a running job
-- whose lease ran out belonged to a worker that died, and is claimed again. A
-- pending job's `lease_until` is the earliest time it may run (retry backoff).
create table jobs (
    id uuid primary key,
    created_at timestamptz not null default now(),
    user_id text,
    client text not null,
    -- The question as submitted (RawQuestion fields).
    question jsonb not null,
    status text not null default 'pending' check (status in ('pending', 'running', 'done', 'failed')),
    attempts integer not null default 0,
    lease_until timestamptz,
    started_at timestamptz,
    finished_at timestamptz,
    result jsonb,
    error jsonb
);

create index jobs_open on jobs (created_at) where status in ('pending', 'running');
create index jobs_finished on jobs (finished_at) where finished_at is not null;

-- How long each answer took, for the audit log (GET /api/logs/).
alter table queries add column duration_ms integer;
