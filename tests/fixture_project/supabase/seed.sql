-- Shaped like `supabase db dump --data-only` output from a Supabase project: replica mode (no
-- triggers fire, so the profile is inserted too), every stored auth.users column (confirmed_at
-- is generated), and the user's email identity.
SET session_replication_role = replica;

INSERT INTO "auth"."users" ("instance_id", "id", "aud", "role", "email", "encrypted_password", "email_confirmed_at", "invited_at", "confirmation_token", "confirmation_sent_at", "recovery_token", "recovery_sent_at", "email_change_token_new", "email_change", "email_change_sent_at", "last_sign_in_at", "raw_app_meta_data", "raw_user_meta_data", "is_super_admin", "created_at", "updated_at", "phone", "phone_confirmed_at", "phone_change", "phone_change_token", "phone_change_sent_at", "email_change_token_current", "email_change_confirm_status", "banned_until", "reauthentication_token", "reauthentication_sent_at", "is_sso_user", "deleted_at", "is_anonymous") VALUES
	('00000000-0000-0000-0000-000000000000', 'a0000000-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'ada@example.com', '$2a$10$EiTeQ7YSfUpM9fQ67M./IOSwVRCIL.clOwbm8L4x7BUwqWNSmUYVG', '2025-01-02 10:00:00+00', NULL, '', '2025-01-02 09:59:00+00', '', NULL, '', '', NULL, '2025-01-03 08:00:00+00', '{"provider": "email", "providers": ["email"]}', '{"sub": "a0000000-0000-4000-8000-000000000001", "email": "ada@example.com", "handle": "Ada", "email_verified": true, "phone_verified": false}', NULL, '2025-01-02 09:59:00+00', '2025-01-03 08:00:00+00', NULL, NULL, '', '', NULL, '', 0, NULL, '', NULL, false, NULL, false);

INSERT INTO "auth"."identities" ("provider_id", "user_id", "identity_data", "provider", "last_sign_in_at", "created_at", "updated_at", "id") VALUES
	('a0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000001', '{"sub": "a0000000-0000-4000-8000-000000000001", "email": "ada@example.com", "email_verified": true, "phone_verified": false}', 'email', '2025-01-02 09:59:00+00', '2025-01-02 09:59:00+00', '2025-01-02 09:59:00+00', 'a1000000-0000-4000-8000-000000000001');

INSERT INTO "public"."profiles" ("id", "handle", "invite_code", "created_at") VALUES
	('a0000000-0000-4000-8000-000000000001', 'Ada', '5f2b9c1d0e3a4b6c7d8e', '2025-01-02 09:59:00+00');

INSERT INTO "public"."notes" ("id", "author", "body", "created_at") VALUES
	('a2000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000001', 'The analytical engine weaves algebraic patterns.', '2025-01-03 08:05:00+00');

RESET ALL;
