-- expect: unknown-rule
-- supadeploy-ignore no-such-rule: because
select 1;
