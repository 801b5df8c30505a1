-- Reports as sent (the original body), plus when they arrived.
create table reports (
    id bigserial primary key,
    received_at timestamptz not null default now(),
    level text not null,
    service text not null,
    status text not null,
    data jsonb not null default 'null'
);
create index reports_service_id_idx on reports (service, id desc);
create index reports_level_id_idx on reports (level, id desc);
create index reports_received_at_idx on reports (received_at);

-- One row per service: its last sign of life and its effective status.
create table service_status (
    service text primary key,
    last_seen timestamptz not null,
    reported_status text not null check (reported_status in ('pass', 'warn', 'fail')),
    status text not null check (status in ('pass', 'warn', 'fail')),
    changed_at timestamptz not null
);

-- Every change of a service's effective status.
create table transitions (
    id bigserial primary key,
    service text not null,
    from_status text,
    to_status text not null,
    at timestamptz not null,
    reason text not null
);
create index transitions_service_id_idx on transitions (service, id desc);
create index transitions_at_idx on transitions (at);
