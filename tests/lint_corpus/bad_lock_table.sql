-- expect: lock-table@5
-- The pinned CLI sends a file's statements without BEGIN, so a top-level LOCK TABLE fails with
-- SQLSTATE 25P01 and the push stops.
set local lock_timeout = '5s';
lock table public.orders in share row exclusive mode;
alter table public.orders add column note text;
-- Inside a DO block the lock is taken within the block's own statement: that runs.
do $$
begin
  lock table public.orders in access exclusive mode;
  update public.orders set note = '' where note is null;
end
$$;
