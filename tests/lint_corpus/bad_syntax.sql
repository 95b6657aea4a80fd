-- expect: syntax-error@2
create tabel public.oops (id int);
