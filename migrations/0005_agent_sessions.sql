CREATE TABLE "agent_sessions" (
	"id" text PRIMARY KEY NOT NULL,
	"owner_id" text NOT NULL,
	"status" text NOT NULL,
	"needs_host" boolean NOT NULL,
	"model" text NOT NULL,
	"doc_id" text,
	"title" text,
	"turns" integer DEFAULT 0 NOT NULL,
	"calls" integer DEFAULT 0 NOT NULL,
	"prompt_tokens" bigint DEFAULT 0 NOT NULL,
	"completion_tokens" bigint DEFAULT 0 NOT NULL,
	"cost_usd" double precision DEFAULT 0 NOT NULL,
	"last_seq" bigint NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "agent_sessions_status_check" CHECK ("agent_sessions"."status" in ('idle', 'running', 'waiting-approval', 'failed'))
);
--> statement-breakpoint
CREATE INDEX "agent_sessions_owner_created_idx" ON "agent_sessions" USING btree ("owner_id","created_at","id");--> statement-breakpoint
CREATE INDEX "agent_sessions_needs_host_idx" ON "agent_sessions" USING btree ("updated_at") WHERE "agent_sessions"."needs_host";