-- search leaves calls' records out
--
-- Version 17 (issue 26; SQLite's alike, storage/SCHEMA.md "Search" and "Changes to messages"): a
-- call's record (kind `call`, storage/message_kinds.h) is a message in every respect but two: its
-- body is the server's JSON, so search leaves it out, and nobody edits it. The index keeps its
-- rows (few; rebuilding it would read every message) and rc_search_messages leaves them out, a
-- condition the index's predicate still serves; rc_change_message refuses an edit of one as of
-- another's message. Both functions are edited in place, one condition each, rather than
-- written out again.
DO $$
DECLARE
  def text := pg_get_functiondef('rc_search_messages'::regproc);
  edited text := replace(def, 'AND m.deleted_at IS NULL',
                         'AND m.deleted_at IS NULL AND m.kind <> ''call''');
BEGIN
  IF edited = def THEN
    RAISE EXCEPTION 'rc_search_messages is not the function of schema version 15';
  END IF;
  EXECUTE edited;
  -- Nobody edits a call's record, its caller included (deleting it stays the author's right).
  def := pg_get_functiondef('rc_change_message'::regproc);
  edited := replace(def, 'WHEN p_kind = ''edit'' AND t.sender_id <> p_sender THEN ''a''',
                    'WHEN p_kind = ''edit'' AND (t.sender_id <> p_sender OR t.kind = ''call'') '
                    'THEN ''a''');
  IF edited = def THEN
    RAISE EXCEPTION 'rc_change_message is not the function of schema version 12';
  END IF;
  EXECUTE edited;
END $$;
