-- The console's users and sessions (docs/console.md). Applied by `ebpf-iptables db init`
-- after 0001_fleet.sql, in one transaction.

-- One row per person who may log in. `password_hash` is a bcrypt hash ($2b$, cost >= 10)
-- made by `ebpf-iptables console adduser`; the password itself is never stored.
create table console_users (
    name text primary key check (name <> ''),
    password_hash text not null,
    created_at timestamptz not null default now()
);

-- One row per logged-in browser. The cookie carries a random 256-bit token; only its
-- SHA-256 is kept here, so a read of this table does not hand out live sessions.
-- `csrf_token` is the per-session token every POST form must carry back.
-- A session is valid while `expires_at > now()`; expired rows are deleted by the console.
create table console_sessions (
    token_hash bytea primary key,
    user_name text not null references console_users(name) on delete cascade,
    csrf_token text not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null
);
create index console_sessions_expires_at on console_sessions (expires_at);
