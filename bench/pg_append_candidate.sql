-- A candidate for storage/pg_schema.cc's append_batch (bench/README.md, chat-1k-pg, "Where the store
-- loses time"): the same parameters, result rows and effects, without joins between CTEs, so its
-- cost stays linear in the batch size whatever plan PostgreSQL picks (the store's prepared
-- statement runs on a generic plan that estimates 10 input rows). Measure it with
--   ringcast-pg-ingest URL --append-sql bench/pg_append_candidate.sql --points store:256:2,...
WITH input AS (
  SELECT t.*, min(t.ord) OVER (PARTITION BY t.sender, t.cid) AS first_ord
  FROM unnest($1::int8[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::int8[])
    WITH ORDINALITY AS t(conv, sender, cid, kind, body, ts, ord)
), checked AS MATERIALIZED (
  SELECT i.*, CASE WHEN i.ord <> i.first_ord THEN NULL WHEN seen.hit THEN 'd' WHEN member.hit THEN 'i'
    ELSE 'f' END AS outcome
  FROM input i
  LEFT JOIN LATERAL (SELECT true AS hit FROM messages m WHERE i.ord = i.first_ord
    AND m.sender_id = i.sender AND m.client_msg_id = i.cid LIMIT 1) seen ON true
  LEFT JOIN LATERAL (SELECT true AS hit FROM users_conversations uc WHERE i.ord = i.first_ord
    AND uc.conversation_id = i.conv AND uc.user_id = i.sender LIMIT 1) member ON true
), numbered AS (
  SELECT c.*, CASE WHEN c.outcome = 'i' THEN
      (SELECT cv.last_seq FROM conversations cv WHERE cv.id = c.conv)
      + count(*) FILTER (WHERE c.outcome = 'i') OVER (PARTITION BY c.conv ORDER BY c.ord) END AS seq
  FROM checked c
), placed AS (
  SELECT n.*, CASE WHEN n.outcome = 'i' THEN nextval('messages_id_seq') END AS id FROM numbered n
), inserted AS (
  INSERT INTO messages (id, conversation_id, seq, sender_id, kind, body, sent_at, client_msg_id)
  SELECT id, conv, seq, sender, kind, body, ts, cid FROM placed WHERE outcome = 'i'
), bumped AS (
  UPDATE conversations c SET last_seq = c.last_seq + b.n
  FROM (SELECT conv, count(*) AS n FROM placed WHERE outcome = 'i' GROUP BY conv) b WHERE c.id = b.conv
), own_read AS (
  UPDATE users_conversations uc SET read_seq = greatest(uc.read_seq, o.top),
    delivered_seq = greatest(uc.delivered_seq, o.top)
  FROM (SELECT conv, sender, max(seq) AS top FROM placed WHERE outcome = 'i' GROUP BY conv, sender) o
  WHERE uc.conversation_id = o.conv AND uc.user_id = o.sender AND uc.read_seq < o.top
), result AS (
  SELECT p.*, first_value(p.outcome) OVER w AS first_outcome, first_value(p.id) OVER w AS first_id,
    first_value(p.seq) OVER w AS first_seq
  FROM placed p WINDOW w AS (PARTITION BY p.sender, p.cid ORDER BY p.ord)
)
SELECT r.ord, CASE WHEN r.ord = r.first_ord THEN r.first_outcome
    WHEN r.first_outcome = 'i' THEN 'b' ELSE r.first_outcome END,
  coalesce(r.first_id, old.id), coalesce(r.first_seq, old.seq), old.conversation_id, old.kind,
  old.body, old.sent_at, r.first_ord
FROM result r LEFT JOIN LATERAL (SELECT * FROM messages m WHERE r.first_outcome = 'd'
  AND m.sender_id = r.sender AND m.client_msg_id = r.cid OFFSET 0) old ON true
ORDER BY r.ord
