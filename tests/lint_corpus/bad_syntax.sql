-- expect: syntax-error
create tabel public.oops (id int);
