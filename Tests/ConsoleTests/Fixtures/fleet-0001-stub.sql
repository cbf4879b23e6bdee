-- STAND-IN for db/migrations/0001_fleet.sql, which the `fleet` branch owns (the schema
-- agreed in fleet-schema.md). Only what the console's test needs; dropped once 0001 is
-- merged, after which the test applies the real migrations (`db init`).
create table schema_migrations (version int primary key, name text, applied_at timestamptz default now());

create table fleet_sets (
    name text primary key, type text not null, create_options text not null default '',
    created_at timestamptz not null default now());
create table fleet_members (
    set_name text references fleet_sets(name) on delete cascade, element text, comment text,
    timeout int, added_at timestamptz default now(), primary key (set_name, element));
create table node_groups (name text primary key);
create table group_sets (
    group_name text references node_groups on delete cascade,
    set_name text references fleet_sets on delete cascade, primary key (group_name, set_name));
create table fleet_changes (
    seq bigserial primary key, at timestamptz default now(), set_name text not null,
    op text not null check (op in ('create','destroy','add','del','flush')),
    element text, comment text, timeout int, create_type text, create_options text, actor text);
create table fleet_nodes (
    name text primary key, group_name text, api_url text, applied_seq bigint,
    last_seen timestamptz, xdp_share real, status text);

create function fleet_log(p_set text, p_op text, p_element text, p_comment text, p_timeout int,
                          p_type text, p_options text, p_actor text) returns bigint language plpgsql as $$
declare s bigint;
begin
    insert into fleet_changes (set_name, op, element, comment, timeout, create_type, create_options, actor)
    values (p_set, p_op, p_element, p_comment, p_timeout, p_type, p_options, p_actor) returning seq into s;
    perform pg_notify('ebpf_iptables_changes', s::text);
    return s;
end $$;

create function fleet_create(set_name text, type text, create_options text default '',
                             actor text default current_user) returns bigint language plpgsql as $$
begin
    if exists (select 1 from fleet_sets s where s.name = fleet_create.set_name) then
        raise exception 'Set cannot be created: set with the same name already exists';
    end if;
    insert into fleet_sets (name, type, create_options) values (set_name, type, create_options);
    return fleet_log(set_name, 'create', null, null, null, type, create_options, actor);
end $$;

create function fleet_add(set_name text, element text, comment text default null,
                          timeout int default null, actor text default current_user)
returns bigint language plpgsql as $$
begin
    if not exists (select 1 from fleet_sets s where s.name = fleet_add.set_name) then
        raise exception 'The set with the given name does not exist';
    end if;
    if exists (select 1 from fleet_members m where m.set_name = fleet_add.set_name and m.element = fleet_add.element) then
        raise exception 'Element cannot be added to the set: it''s already added';
    end if;
    insert into fleet_members (set_name, element, comment, timeout) values (set_name, element, comment, timeout);
    return fleet_log(set_name, 'add', element, comment, timeout, null, null, actor);
end $$;

create function fleet_del(set_name text, element text, actor text default current_user)
returns bigint language plpgsql as $$
begin
    if not exists (select 1 from fleet_sets s where s.name = fleet_del.set_name) then
        raise exception 'The set with the given name does not exist';
    end if;
    delete from fleet_members m where m.set_name = fleet_del.set_name and m.element = fleet_del.element;
    if not found then
        raise exception 'Element cannot be deleted from the set: it''s not added';
    end if;
    return fleet_log(set_name, 'del', element, null, null, null, null, actor);
end $$;

insert into schema_migrations (version, name) values (1, 'fleet (stand-in)');
