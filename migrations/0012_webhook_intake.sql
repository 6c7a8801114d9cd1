CREATE TABLE "webhook_intake" (
	"stream" text PRIMARY KEY NOT NULL,
	"last_seq" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "webhook_deliveries_pending_key_idx" ON "webhook_deliveries" USING btree ("endpoint_id","order_key","event_seq") WHERE "webhook_deliveries"."status" = 'pending';