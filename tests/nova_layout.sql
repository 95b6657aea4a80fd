-- The Nova database layout supadeploy's import assumes (docs/NOVA_IMPORT.md): what `prisma migrate`
-- generates for Nova's models with Prisma's defaults: quoted PascalCase tables named after the models,
-- camelCase columns, cuid() text ids, DateTime as timestamp(3) holding UTC, enums as PostgreSQL enums,
-- and relationMode = "prisma" (no foreign keys: Prisma enforces relations, so orphans can exist).
-- Tests and bench/nova_import.py create Nova-like databases from this file.

create type "TeamRole" as enum ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER');
create type "DeploymentTarget" as enum ('DEVELOPMENT', 'STAGING', 'PRODUCTION');
create type "DeploymentStatus" as enum ('QUEUED', 'BUILDING', 'READY', 'ERROR', 'CANCELED');

create table "User" (
  "id" text not null primary key,
  "email" text not null,
  "name" text,
  "image" text,
  "createdAt" timestamp(3) not null default current_timestamp,
  "updatedAt" timestamp(3) not null
);
-- Prisma's @unique is case-sensitive: Ann@x.io and ann@x.io are two Nova users.
create unique index "User_email_key" on "User" ("email");

create table "Team" (
  "id" text not null primary key,
  "name" text not null,
  "slug" text not null,
  "createdAt" timestamp(3) not null default current_timestamp,
  "updatedAt" timestamp(3) not null
);
create unique index "Team_slug_key" on "Team" ("slug");

create table "TeamMember" (
  "id" text not null primary key,
  "teamId" text not null,
  "userId" text not null,
  "role" "TeamRole" not null default 'MEMBER',
  "createdAt" timestamp(3) not null default current_timestamp
);
create unique index "TeamMember_teamId_userId_key" on "TeamMember" ("teamId", "userId");
create index "TeamMember_userId_idx" on "TeamMember" ("userId");

create table "Project" (
  "id" text not null primary key,
  "teamId" text not null,
  "name" text not null,
  "description" text,
  "createdAt" timestamp(3) not null default current_timestamp,
  "updatedAt" timestamp(3) not null
);
create index "Project_teamId_idx" on "Project" ("teamId");

create table "Deployment" (
  "id" text not null primary key,
  "projectId" text not null,
  "target" "DeploymentTarget" not null default 'PRODUCTION',
  "status" "DeploymentStatus" not null default 'QUEUED',
  "commitSha" text,
  "url" text,
  "createdById" text,
  "createdAt" timestamp(3) not null default current_timestamp,
  "startedAt" timestamp(3),
  "finishedAt" timestamp(3)
);
create index "Deployment_projectId_idx" on "Deployment" ("projectId");

create table "ApiToken" (
  "id" text not null primary key,
  "teamId" text not null,
  "name" text not null,
  "hashedKey" text not null,
  "createdById" text,
  "createdAt" timestamp(3) not null default current_timestamp,
  "expiresAt" timestamp(3),
  "lastUsedAt" timestamp(3),
  "revokedAt" timestamp(3)
);
create unique index "ApiToken_hashedKey_key" on "ApiToken" ("hashedKey");
create index "ApiToken_teamId_idx" on "ApiToken" ("teamId");
