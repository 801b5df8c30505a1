-- One row per instance (replica) of a service: its own last sign of life and
-- status. service_status keeps the service's status, rolled up from these rows.
-- Reports sent without an instance id (the original body) belong to instance ''.
create table instance_status (
    service text not null,
    instance text not null,
    last_seen timestamptz not null,
    reported_status text not null check (reported_status in ('pass', 'warn', 'fail')),
    status text not null check (status in ('pass', 'warn', 'fail')),
    changed_at timestamptz not null,
    primary key (service, instance)
);
insert into instance_status (service, instance, last_seen, reported_status, status, changed_at)
select service, '', last_seen, reported_status, status, changed_at from service_status;

alter table reports add column instance text not null default '';

-- null: a change of the service's rolled-up status; else of that instance.
alter table transitions add column instance text;
