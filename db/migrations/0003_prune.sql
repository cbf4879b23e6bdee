-- Pruning the change log (`ebpf-iptables db prune`, docs/fleet.md), and group changes that
-- wake the nodes. Names of 0001 are kept; this file only adds.

-- One row: every change with a seq below `pruned_below` may have been deleted. A node that
-- has applied seq A needs every change above A; when A + 1 < pruned_below some are gone, and
-- it resynchronises from a snapshot instead of catching up by seq.
create table fleet_log_state (
    id boolean primary key default true check (id),
    pruned_below bigint not null default 0
);
insert into fleet_log_state default values;

-- Deletes the change log's rows with seq < below_seq (at most up to the newest row: the log
-- is never cut above what was written), under the writers' lock, so no change commits
-- between the cut and its record. Returns how many rows went. The mark only moves up.
create function fleet_prune(below_seq bigint) returns bigint
language plpgsql as $$
declare
    top bigint;
    mark bigint;
    cut bigint;
    n bigint;
begin
    perform fleet_lock();
    select pruned_below into mark from fleet_log_state for update;
    select coalesce(max(seq), 0) + 1 into top from fleet_changes;
    cut := least(below_seq, greatest(top, mark));
    if cut <= mark then
        return 0;
    end if;
    delete from fleet_changes where seq < cut;
    get diagnostics n = row_count;
    update fleet_log_state set pruned_below = cut;
    return n;
end
$$;

-- Keeps the changes of the last keep_seconds: cuts below the oldest seq written since then
-- (everything when nothing was). `at` is each change's transaction start; every row below
-- the cut is older than the cutoff.
create function fleet_prune_older(keep_seconds int) returns bigint
language plpgsql as $$
declare
    keep bigint;
begin
    perform fleet_lock();
    select min(seq) into keep from fleet_changes where at >= now() - make_interval(secs => keep_seconds);
    if keep is null then
        select coalesce(max(seq), 0) + 1 into keep from fleet_changes;
    end if;
    return fleet_prune(keep);
end
$$;

-- A set given to or taken from a group wakes the nodes at once (the payload is no seq: it
-- only wakes them; they read group_sets at every catch-up).
create function fleet_group_sets_notify() returns trigger
language plpgsql as $$
begin
    perform pg_notify('ebpf_iptables_changes', 'group');
    return null;
end
$$;

create trigger group_sets_notify after insert or update or delete or truncate on group_sets
    for each statement execute function fleet_group_sets_notify();
