-- search: the index keyed by conversation too
--
-- Version 15 (issue 25, search latency; SQLite's version 15, storage/SCHEMA.md "Search"): the
-- index also holds each message's conversation, as the lexeme '#c<id>' (no text the 'simple'
-- parser reads can make one: it splits at '#'), so a search asks it for the caller's
-- conversations one at a time ('#c<id>' & the words: GIN walks the conversation's short posting
-- list and skips through the word's) instead of every message holding the words.
-- rc_search_messages does that; pg_search_store.cc calls it. Its statements repeat the
-- index's expression and predicate word for word, or the planner cannot use the index. Past
-- 1,000 conversations one statement over the words alone, filtered by membership, is cheaper
-- than a probe per conversation (about 30 µs each).
DROP INDEX messages_search;
CREATE INDEX messages_search ON messages USING gin ((to_tsvector('simple'::regconfig, body) ||
  array_to_tsvector(ARRAY['#c' || conversation_id::text])))
WHERE kind NOT IN ('edit','delete','reaction','pin','unpin','system') AND deleted_at IS NULL;

-- Every hit of p_words in the caller's conversations (only p_conv's, if given) that passes the
-- filters and comes after the cursor (p_score, p_id); at most p_limit per probe, the best (the
-- page's hits are among them); the caller orders and cuts the page. A probe is one conversation's
-- lexeme ANDed with the words, or, past 1,000 conversations, the words alone with membership
-- tested on each hit.
CREATE FUNCTION rc_search_messages(p_user int8, p_words text, p_conv int8, p_from int8,
                                   p_before int8, p_after int8, p_score float8, p_id int8,
                                   p_limit int8)
RETURNS TABLE (hit_id int8, hit_conv int8, hit_seq int8, hit_from int8, hit_kind text,
               hit_ts int8, hit_edited_at int8, hit_score float8, hit_body text)
LANGUAGE plpgsql STABLE
-- The generic plan of the probe estimates 5,000 rows and gathers them with parallel workers:
-- starting them costs 15 ms a probe, a hundred times the probe itself.
SET max_parallel_workers_per_gather = 0 AS $$
DECLARE
  words tsquery := plainto_tsquery('simple'::regconfig, p_words);
  convs int8[] := ARRAY(SELECT uc.conversation_id FROM users_conversations uc
                        WHERE uc.user_id = p_user
                          AND (p_conv IS NULL OR uc.conversation_id = p_conv));
  probe tsquery;
  members_only int8[];
BEGIN
  -- No word the index keeps (emoji, punctuation): nothing matches. (An empty tsquery ANDed with
  -- a conversation's lexeme would be that lexeme alone, and match the whole conversation.)
  IF numnode(words) = 0 THEN RETURN; END IF;
  FOR probe, members_only IN
    SELECT words, convs WHERE cardinality(convs) > 1000
    UNION ALL
    SELECT words && quote_literal('#c' || c::text)::tsquery, NULL::int8[]
    FROM unnest(convs) c WHERE cardinality(convs) <= 1000
  LOOP
    RETURN QUERY
    SELECT m.id, m.conversation_id, m.seq, m.sender_id, m.kind, m.sent_at, m.edited_at, s.score,
           m.body
    FROM messages m,
         LATERAL (SELECT (-ts_rank(to_tsvector('simple'::regconfig, m.body), words))::float8
                  AS score) s
    WHERE (to_tsvector('simple'::regconfig, m.body) ||
           array_to_tsvector(ARRAY['#c' || m.conversation_id::text])) @@ probe
      AND m.kind NOT IN ('edit','delete','reaction','pin','unpin','system')
      AND m.deleted_at IS NULL
      AND (members_only IS NULL OR m.conversation_id = ANY (members_only))
      AND (p_from IS NULL OR m.sender_id = p_from)
      AND (p_before IS NULL OR m.sent_at < p_before)
      AND (p_after IS NULL OR m.sent_at > p_after)
      AND (p_score IS NULL OR s.score > p_score OR (s.score = p_score AND m.id < p_id))
    ORDER BY s.score, m.id DESC LIMIT p_limit;
  END LOOP;
END $$;
