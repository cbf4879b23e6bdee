-- The fleet's sets (docs/fleet.md). Applied by `ebpf-iptables db init`, in one transaction.
-- Names are shared with the console (0002_console.sql): add columns, never rename.

-- A set as `ipset save` prints it: `create NAME TYPE OPTIONS`. `slot` (added column): the
-- kernel's set index ipset would give it (listings walk the slots; a destroyed set's slot is
-- reused), kept by ebpf-ipset --database so `ipset list` prints sets in ipset's order.
create table fleet_sets (
    name text primary key,
    type text not null,
    create_options text not null default '',
    created_at timestamptz not null default now(),
    slot int
);

-- A member, its element in ipset's normalised save form (`10.0.0.0/8`, `10.1.2.3,udp:5060`).
-- `extras`: the other words of its `ipset save` add line (nomatch, skbmark ...), as printed;
-- `added_seq`: the change that added it, the order `ipset list` prints members in.
create table fleet_members (
    set_name text not null references fleet_sets(name) on delete cascade,
    element text not null,
    comment text,
    timeout int,
    added_at timestamptz default now(),
    extras text not null default '',
    added_seq bigint,
    primary key (set_name, element)
);

create table node_groups (
    name text primary key
);

-- A node in group G follows the sets of G; a node without a group follows every set.
create table group_sets (
    group_name text not null references node_groups(name) on delete cascade,
    set_name text not null references fleet_sets(name) on delete cascade,
    primary key (group_name, set_name)
);

-- Append-only. Every writer goes through the fleet_* functions below, which serialise on one
-- advisory lock: seq order is commit order, so a node that has applied seq N has seen every
-- change <= N (a bigserial alone does not promise that: a later seq may commit first).
create table fleet_changes (
    seq bigserial primary key,
    at timestamptz not null default now(),
    set_name text not null,
    op text not null check (op in ('create', 'destroy', 'add', 'del', 'flush')),
    element text,
    comment text,
    timeout int,
    create_type text,
    create_options text,
    actor text,
    extras text
);

create table fleet_nodes (
    name text primary key,
    group_name text,
    api_url text,
    applied_seq bigint,
    last_seen timestamptz,
    xdp_share real,
    status text
);

-- One writer at a time (see fleet_changes). Held to the end of the caller's transaction.
create function fleet_lock() returns void language sql as $$
    select pg_advisory_xact_lock(7140014)
$$;

-- Writes the change's row and its NOTIFY (delivered at commit, with the transaction).
create function fleet_log(p_set text, p_op text, p_element text, p_comment text, p_timeout int,
                          p_type text, p_options text, p_actor text, p_extras text) returns bigint
language plpgsql as $$
declare
    s bigint;
begin
    insert into fleet_changes (set_name, op, element, comment, timeout, create_type, create_options, actor, extras)
    values (p_set, p_op, p_element, p_comment, p_timeout, p_type, p_options, p_actor, p_extras)
    returning seq into s;
    perform pg_notify('ebpf_iptables_changes', s::text);
    return s;
end
$$;

-- A member whose timeout ran out is gone, as in the kernel.
create function fleet_expire(p_set text, p_element text) returns void language sql as $$
    delete from fleet_members m
    where m.set_name = p_set and m.element = p_element and m.timeout is not null and m.timeout > 0
      and m.added_at + make_interval(secs => m.timeout) <= now()
$$;

create function fleet_create(set_name text, type text, create_options text default '',
                             actor text default current_user, slot int default null) returns bigint
language plpgsql as $$
#variable_conflict use_variable
begin
    perform fleet_lock();
    if exists (select 1 from fleet_sets f where f.name = set_name) then
        raise exception 'Set cannot be created: set with the same name already exists' using errcode = 'P0001';
    end if;
    insert into fleet_sets (name, type, create_options, slot) values (set_name, type, coalesce(create_options, ''), slot);
    return fleet_log(set_name, 'create', null, null, null, type, coalesce(create_options, ''), actor, null);
end
$$;

create function fleet_destroy(set_name text, actor text default current_user) returns bigint
language plpgsql as $$
#variable_conflict use_variable
begin
    perform fleet_lock();
    if not exists (select 1 from fleet_sets f where f.name = set_name) then
        raise exception 'The set with the given name does not exist' using errcode = 'P0001';
    end if;
    delete from fleet_sets f where f.name = set_name;
    return fleet_log(set_name, 'destroy', null, null, null, null, null, actor, null);
end
$$;

create function fleet_flush(set_name text, actor text default current_user) returns bigint
language plpgsql as $$
#variable_conflict use_variable
begin
    perform fleet_lock();
    if not exists (select 1 from fleet_sets f where f.name = set_name) then
        raise exception 'The set with the given name does not exist' using errcode = 'P0001';
    end if;
    delete from fleet_members m where m.set_name = set_name;
    return fleet_log(set_name, 'flush', null, null, null, null, null, actor, null);
end
$$;

-- `element` must already be in ipset's save form: the Swift side (ebpf-ipset --database, the
-- console) parses and normalises it with our ipset parser before calling.
create function fleet_add(set_name text, element text, comment text default null, timeout int default null,
                          actor text default current_user, extras text default '') returns bigint
language plpgsql as $$
#variable_conflict use_variable
declare
    s bigint;
begin
    perform fleet_lock();
    if not exists (select 1 from fleet_sets f where f.name = set_name) then
        raise exception 'The set with the given name does not exist' using errcode = 'P0001';
    end if;
    -- ipset's refusals for what the set cannot keep (a node's kernel would refuse the add).
    if comment is not null and comment <> '' and not exists (select 1 from fleet_sets f
            where f.name = set_name and ' ' || f.create_options || ' ' like '% comment %') then
        raise exception 'Comment cannot be used: set was created without comment support' using errcode = 'P0001';
    end if;
    if timeout is not null and not exists (select 1 from fleet_sets f
            where f.name = set_name and ' ' || f.create_options || ' ' like '% timeout %') then
        raise exception 'Timeout cannot be used: set was created without timeout support' using errcode = 'P0001';
    end if;
    perform fleet_expire(set_name, element);
    if exists (select 1 from fleet_members m where m.set_name = set_name and m.element = element) then
        raise exception 'Element cannot be added to the set: it''s already added' using errcode = 'P0001';
    end if;
    s := fleet_log(set_name, 'add', element, comment, timeout, null, null, actor, coalesce(extras, ''));
    insert into fleet_members (set_name, element, comment, timeout, extras, added_seq)
    values (set_name, element, comment, timeout, coalesce(extras, ''), s);
    return s;
end
$$;

create function fleet_del(set_name text, element text, actor text default current_user) returns bigint
language plpgsql as $$
#variable_conflict use_variable
begin
    perform fleet_lock();
    if not exists (select 1 from fleet_sets f where f.name = set_name) then
        raise exception 'The set with the given name does not exist' using errcode = 'P0001';
    end if;
    perform fleet_expire(set_name, element);
    if not exists (select 1 from fleet_members m where m.set_name = set_name and m.element = element) then
        raise exception 'Element cannot be deleted from the set: it''s not added' using errcode = 'P0001';
    end if;
    delete from fleet_members m where m.set_name = set_name and m.element = element;
    return fleet_log(set_name, 'del', element, null, null, null, null, actor, null);
end
$$;

create index fleet_members_order on fleet_members (set_name, added_seq);
