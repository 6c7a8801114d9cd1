CREATE TABLE "pipeline_definitions" (
	"owner_id" text NOT NULL,
	"kind" text NOT NULL,
	"version" integer NOT NULL,
	"definition" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "pipeline_definitions_owner_id_kind_version_pk" PRIMARY KEY("owner_id","kind","version"),
	CONSTRAINT "pipeline_definitions_version_check" CHECK ("pipeline_definitions"."version" >= 1)
);
--> statement-breakpoint
CREATE INDEX "jobs_owner_kind_created_idx" ON "jobs" USING btree ("owner_id","kind","created_at","id");--> statement-breakpoint
CREATE INDEX "jobs_owner_status_created_idx" ON "jobs" USING btree ("owner_id","status","created_at","id");