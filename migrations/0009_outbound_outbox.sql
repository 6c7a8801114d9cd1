CREATE TABLE "outbound_outbox" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"event_id" text NOT NULL,
	"event" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"sent_at" timestamp with time zone,
	CONSTRAINT "outbound_outbox_event_id_key" UNIQUE("event_id")
);
--> statement-breakpoint
CREATE INDEX "outbound_outbox_unsent_idx" ON "outbound_outbox" USING btree ("seq") WHERE "outbound_outbox"."sent_at" is null;