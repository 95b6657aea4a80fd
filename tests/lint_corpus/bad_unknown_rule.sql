-- expect: unknown-rule@2
-- supadeploy-ignore no-such-rule: because
select 1;
