-- expect: rls-not-enabled@13, lock-table@20, policy-per-row-call@23, policy-per-row-call@25
-- Prix en ¥ et en €, données « françaises », 日本語のコメント, emoji 🚀🚀🚀: none of it moves a line.
comment on schema public is 'Ünïcödé ¥¥¥ 価格表 — 🚀';
insert into public.settings (key, value) values ('greeting', 'こんにちは、世界 ¥100 ✓');
create function public.label(p text) returns text language sql immutable set search_path = ''
as $$ select p || ' → ' || '€' $$;
revoke execute on function public.label(text) from public, anon;
/* Ein Blockkommentar mit Umlauten: ä ö ü ß,
   und noch eine Zeile: 🙂🙂🙂 */
-- supadeploy-ignore rls-not-enabled: lookup table of currency symbols (¥, €, £), read through a view
create table public.currencies (code text primary key, symbol text);

create table public.prices (id bigint primary key, label text default '¥');

insert into public.settings (key, value) values ('motto', $quote$C'est « l'été » 🌞
sur deux lignes$quote$);
-- ¥¥¥ €€€ 🚀🚀🚀 right above the statement
-- (and a second comment line)

lock table public.prices in access exclusive mode;

-- supadeploy-ignore policy-without-roles: naïve readers see 価格 too (the ¥ must not shift this)
create policy "Everyone reads prices" on public.prices for select using (auth.uid() is not null);

create policy "Owners write prices" on public.prices for update to authenticated
  using (
    owner = auth.uid() -- « propriétaire » ¥
  );
