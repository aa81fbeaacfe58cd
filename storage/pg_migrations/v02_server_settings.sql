-- server settings shared by every node (the token signing secret)
--
-- Version 2: settings every node of a cluster must share; today the token signing secret
-- (chat/service.cc), so that a token from one node is accepted by all of them.
CREATE TABLE server_settings (
  name  text PRIMARY KEY,
  value text NOT NULL
);
