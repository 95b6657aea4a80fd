-- Team API tokens (from Nova): vsn_<30 base62 random><6 base62 CRC32>, stored only as SHA-256.
-- A request presents one in the x-api-token header with the anon key; the pre-request function
-- rejects a bad one (HTTP 401), and policies admit a good one only inside its team and scopes.

create table public.api_tokens (
  id uuid primary key default extensions.gen_random_uuid(),
  team_id uuid not null references public.teams (id) on delete cascade,
  name text not null check (char_length(name) between 1 and 100),
  token_hash bytea not null unique check (octet_length(token_hash) = 32),
  display_prefix text not null check (display_prefix ~ '^vsn_[0-9A-Za-z]{4}$'),
  scopes text[] not null check (
    cardinality(scopes) > 0
    and scopes <@ array['projects:read', 'projects:write', 'deployments:read', 'deployments:write']
  ),
  created_by uuid references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  revoked_at timestamptz,
  last_used_at timestamptz,
  constraint api_tokens_expire_after_creation check (expires_at > created_at)
);
create index api_tokens_team_id_idx on public.api_tokens (team_id);
create index api_tokens_created_by_idx on public.api_tokens (created_by);
alter table public.api_tokens enable row level security;

create policy "api_tokens: admins list"
  on public.api_tokens for select to authenticated
  using (team_id = any ((select private.team_ids('admin'))::uuid[]));

-- Clients read everything but the hash, and change tokens only through the functions below.
revoke all on public.api_tokens from anon, authenticated;
grant select (id, team_id, name, display_prefix, scopes, created_by, created_at, expires_at, revoked_at,
              last_used_at)
  on public.api_tokens to authenticated;

-- The format, checkable without a lookup -------------------------------------------------------
-- CRC-32 (IEEE), table-driven: one lookup per byte.
create function private.crc32(data bytea) returns bigint
language plpgsql
immutable
set search_path = ''
as $$
declare
  crc_table constant bigint[] := array[
    0, 1996959894, 3993919788, 2567524794, 124634137, 1886057615, 3915621685, 2657392035,
    249268274, 2044508324, 3772115230, 2547177864, 162941995, 2125561021, 3887607047, 2428444049,
    498536548, 1789927666, 4089016648, 2227061214, 450548861, 1843258603, 4107580753, 2211677639,
    325883990, 1684777152, 4251122042, 2321926636, 335633487, 1661365465, 4195302755, 2366115317,
    997073096, 1281953886, 3579855332, 2724688242, 1006888145, 1258607687, 3524101629, 2768942443,
    901097722, 1119000684, 3686517206, 2898065728, 853044451, 1172266101, 3705015759, 2882616665,
    651767980, 1373503546, 3369554304, 3218104598, 565507253, 1454621731, 3485111705, 3099436303,
    671266974, 1594198024, 3322730930, 2970347812, 795835527, 1483230225, 3244367275, 3060149565,
    1994146192, 31158534, 2563907772, 4023717930, 1907459465, 112637215, 2680153253, 3904427059,
    2013776290, 251722036, 2517215374, 3775830040, 2137656763, 141376813, 2439277719, 3865271297,
    1802195444, 476864866, 2238001368, 4066508878, 1812370925, 453092731, 2181625025, 4111451223,
    1706088902, 314042704, 2344532202, 4240017532, 1658658271, 366619977, 2362670323, 4224994405,
    1303535960, 984961486, 2747007092, 3569037538, 1256170817, 1037604311, 2765210733, 3554079995,
    1131014506, 879679996, 2909243462, 3663771856, 1141124467, 855842277, 2852801631, 3708648649,
    1342533948, 654459306, 3188396048, 3373015174, 1466479909, 544179635, 3110523913, 3462522015,
    1591671054, 702138776, 2966460450, 3352799412, 1504918807, 783551873, 3082640443, 3233442989,
    3988292384, 2596254646, 62317068, 1957810842, 3939845945, 2647816111, 81470997, 1943803523,
    3814918930, 2489596804, 225274430, 2053790376, 3826175755, 2466906013, 167816743, 2097651377,
    4027552580, 2265490386, 503444072, 1762050814, 4150417245, 2154129355, 426522225, 1852507879,
    4275313526, 2312317920, 282753626, 1742555852, 4189708143, 2394877945, 397917763, 1622183637,
    3604390888, 2714866558, 953729732, 1340076626, 3518719985, 2797360999, 1068828381, 1219638859,
    3624741850, 2936675148, 906185462, 1090812512, 3747672003, 2825379669, 829329135, 1181335161,
    3412177804, 3160834842, 628085408, 1382605366, 3423369109, 3138078467, 570562233, 1426400815,
    3317316542, 2998733608, 733239954, 1555261956, 3268935591, 3050360625, 752459403, 1541320221,
    2607071920, 3965973030, 1969922972, 40735498, 2617837225, 3943577151, 1913087877, 83908371,
    2512341634, 3803740692, 2075208622, 213261112, 2463272603, 3855990285, 2094854071, 198958881,
    2262029012, 4057260610, 1759359992, 534414190, 2176718541, 4139329115, 1873836001, 414664567,
    2282248934, 4279200368, 1711684554, 285281116, 2405801727, 4167216745, 1634467795, 376229701,
    2685067896, 3608007406, 1308918612, 956543938, 2808555105, 3495958263, 1231636301, 1047427035,
    2932959818, 3654703836, 1088359270, 936918000, 2847714899, 3736837829, 1202900863, 817233897,
    3183342108, 3401237130, 1404277552, 615818150, 3134207493, 3453421203, 1423857449, 601450431,
    3009837614, 3294710456, 1567103746, 711928724, 3020668471, 3272380065, 1510334235, 755167117
  ]::bigint[];
  crc bigint := 4294967295;
begin
  for i in 0 .. length(data) - 1 loop
    crc := (crc >> 8) # crc_table[((crc # get_byte(data, i)) & 255) + 1];
  end loop;
  return crc # 4294967295;
end
$$;

create function private.base62(n bigint, width integer) returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  alphabet constant text := '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  out text := '';
begin
  while n > 0 loop
    out := substr(alphabet, (n % 62)::integer + 1, 1) || out;
    n := n / 62;
  end loop;
  return lpad(out, width, '0');
end
$$;

-- PL/pgSQL, not SQL: these run on every request, and PL/pgSQL keeps its plans for the session.
create function private.api_token_well_formed(token text) returns boolean
language plpgsql
immutable
set search_path = ''
as $$
begin
  return token ~ '^vsn_[0-9A-Za-z]{36}$'
     and substr(token, 35, 6) = private.base62(private.crc32(convert_to(substr(token, 5, 30), 'UTF8')), 6);
end
$$;

create function private.new_api_token() returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
  alphabet constant text := '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  random_part text := '';
  b integer;
begin
  -- Rejection sampling keeps each character uniform: 30 x log2(62) = 178 bits.
  while char_length(random_part) < 30 loop
    b := get_byte(extensions.gen_random_bytes(1), 0);
    if b < 248 then
      random_part := random_part || substr(alphabet, b % 62 + 1, 1);
    end if;
  end loop;
  return 'vsn_' || random_part || private.base62(private.crc32(convert_to(random_part, 'UTF8')), 6);
end
$$;

-- The token presented with this request, if any (lower-cased header names, as PostgREST sets them).
create function private.presented_api_token() returns text
language plpgsql
stable
set search_path = ''
as $$
begin
  return nullif(current_setting('request.headers', true), '')::json ->> 'x-api-token';
end
$$;

-- Teams whose data the presented token may touch with `scope`: its team, or none. Everything is
-- derived from the token itself (looked up by hash), so nothing a client sets can grant access.
-- The checksum was checked by the pre-request; an invented string cannot match a stored hash.
create function private.api_token_teams(scope text) returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  presented text := private.presented_api_token();
  found_team uuid;
begin
  if presented is null then
    return '{}';
  end if;
  select t.team_id into found_team
  from public.api_tokens t
  where t.token_hash = extensions.digest(presented, 'sha256')
    and t.revoked_at is null and t.expires_at > now() and scope = any (t.scopes);
  return case when found_team is null then '{}'::uuid[] else array[found_team] end;
end
$$;

-- PostgREST's pre-request: no token leaves the request as it was; a bad one is a 401.
create function private.authenticate_api_token() returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  presented text := private.presented_api_token();
  token public.api_tokens;
begin
  if presented is null then
    return;
  end if;
  if not private.api_token_well_formed(presented) then
    raise exception 'malformed API token' using errcode = 'PT401';
  end if;
  select * into token from public.api_tokens t where t.token_hash = extensions.digest(presented, 'sha256');
  if not found or token.revoked_at is not null or token.expires_at <= now() then
    raise exception 'invalid, expired or revoked API token' using errcode = 'PT401';
  end if;
  if nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub' is not null then
    raise exception 'send either a user session or an API token, not both' using errcode = 'PT401';
  end if;
  -- GET and HEAD run read-only: last use is recorded on writes, at most once a minute.
  if current_setting('transaction_read_only') = 'off'
     and (token.last_used_at is null or token.last_used_at < now() - interval '1 minute') then
    update public.api_tokens set last_used_at = now() where id = token.id;
  end if;
end
$$;

-- Issuing and revoking: team admins and owners, never with a token ------------------------------
create function private.issue_api_token(
  team uuid, token_name text, token_scopes text[], valid_for interval, issuer uuid
) returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  issuer_role public.team_role;
  allowed text[];
  secret text := private.new_api_token();
begin
  if private.presented_api_token() is not null then
    raise exception 'an API token cannot create tokens' using errcode = 'insufficient_privilege';
  end if;
  if valid_for < interval '1 hour' or valid_for > interval '366 days' then
    raise exception 'tokens live between 1 hour and 366 days' using errcode = 'check_violation';
  end if;
  if issuer is not null then
    select m.role into issuer_role from public.team_members m where m.team_id = team and m.user_id = issuer;
    if issuer_role is null or issuer_role < 'admin' then
      raise exception 'only team admins and owners create tokens' using errcode = 'insufficient_privilege';
    end if;
    -- What the issuer's role may do is the most a token may carry.
    allowed := case when issuer_role >= 'admin'
      then array['projects:read', 'projects:write', 'deployments:read', 'deployments:write']
      else array['projects:read', 'deployments:read'] end;
    if not token_scopes <@ allowed then
      raise exception 'scopes beyond the issuer''s role' using errcode = 'insufficient_privilege';
    end if;
  end if;
  insert into public.api_tokens (team_id, name, token_hash, display_prefix, scopes, created_by, expires_at)
  values (team, token_name, extensions.digest(secret, 'sha256'), left(secret, 8), token_scopes, issuer,
          now() + valid_for);
  return secret;
end
$$;

create function private.revoke_api_token(token_id uuid, revoker uuid) returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if private.presented_api_token() is not null then
    raise exception 'an API token cannot revoke tokens' using errcode = 'insufficient_privilege';
  end if;
  update public.api_tokens t set revoked_at = coalesce(t.revoked_at, now())
  where t.id = token_id
    and (revoker is null or exists (
      select 1 from public.team_members m
      where m.team_id = t.team_id and m.user_id = revoker and m.role >= 'admin'));
  if not found then
    raise exception 'no such token in a team you administer' using errcode = 'no_data_found';
  end if;
end
$$;

create function public.create_api_token(
  team uuid, token_name text, scopes text[], valid_for interval default interval '90 days'
) returns text
language sql
set search_path = ''
as $$
  select private.issue_api_token(team, token_name, scopes, valid_for, (select auth.uid()))
$$;

create function public.revoke_api_token(token_id uuid) returns void
language sql
set search_path = ''
as $$
  select private.revoke_api_token(token_id, (select auth.uid()))
$$;

revoke execute on function public.create_api_token(uuid, text, text[], interval),
  public.revoke_api_token(uuid) from public, anon;
grant execute on function public.create_api_token(uuid, text, text[], interval),
  public.revoke_api_token(uuid) to authenticated, service_role;

grant usage on schema private to anon;
revoke execute on all functions in schema private from public;
grant execute on function private.team_ids(public.team_role), private.accept_invitation(text)
  to authenticated;
grant execute on function private.issue_api_token(uuid, text, text[], interval, uuid),
  private.revoke_api_token(uuid, uuid) to authenticated;
grant execute on function private.authenticate_api_token(), private.api_token_teams(text),
  private.presented_api_token(), private.api_token_well_formed(text), private.crc32(bytea),
  private.base62(bigint, integer) to anon, authenticated, service_role;

-- Token requests arrive as anon: these policies admit them inside the token's team and scopes only.
-- supadeploy-ignore anon-write-grant: anon writes are admitted only by the token policies below
grant select, insert, update on public.projects, public.deployments to anon;

create policy "projects: tokens read"
  on public.projects for select to anon
  using (team_id = any ((select private.api_token_teams('projects:read'))::uuid[]));

create policy "projects: tokens create"
  on public.projects for insert to anon
  with check (team_id = any ((select private.api_token_teams('projects:write'))::uuid[]));

create policy "projects: tokens update"
  on public.projects for update to anon
  using (team_id = any ((select private.api_token_teams('projects:write'))::uuid[]))
  with check (team_id = any ((select private.api_token_teams('projects:write'))::uuid[]));

create policy "deployments: tokens read"
  on public.deployments for select to anon
  using (team_id = any ((select private.api_token_teams('deployments:read'))::uuid[]));

create policy "deployments: tokens record"
  on public.deployments for insert to anon
  with check (team_id = any ((select private.api_token_teams('deployments:write'))::uuid[]));

create policy "deployments: tokens update"
  on public.deployments for update to anon
  using (team_id = any ((select private.api_token_teams('deployments:write'))::uuid[]))
  with check (team_id = any ((select private.api_token_teams('deployments:write'))::uuid[]));

-- PostgREST runs this before every request (in-database configuration of the authenticator).
alter role authenticator set pgrst.db_pre_request = 'private.authenticate_api_token';
notify pgrst, 'reload config';
