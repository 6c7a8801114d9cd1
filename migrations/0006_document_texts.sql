CREATE TABLE "document_texts" (
	"doc_id" text PRIMARY KEY NOT NULL,
	"body" text NOT NULL,
	"tsv" "tsvector" GENERATED ALWAYS AS (to_tsvector('simple', "body")) STORED NOT NULL,
	"seq" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "document_texts_tsv_idx" ON "document_texts" USING gin ("tsv");