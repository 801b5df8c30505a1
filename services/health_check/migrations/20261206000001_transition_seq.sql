-- Transitions in commit order, for GET /transitions/stream. The bigserial `id` is
-- taken when a row is inserted, so two transactions can commit their ids out of
-- order; a reader resuming "after id N" could then miss a row. `seq` is given to
-- committed rows only, by one sequencer at a time (the lock on the row of
-- transition_seq), so seqs are gapless and a row with seq N is visible before any
-- with a higher seq.
create table transition_seq (
    id smallint primary key check (id = 1),
    last bigint not null check (last >= 0)
);
alter table transitions add column seq bigint;
update transitions t set seq = n.rn
  from (select id, row_number() over (order by id) as rn from transitions) n
 where t.id = n.id;
insert into transition_seq (id, last) select 1, coalesce(max(seq), 0) from transitions;
create unique index transitions_seq_idx on transitions (seq);
create index transitions_unsequenced_idx on transitions (id) where seq is null;
