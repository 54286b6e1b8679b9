// Embedded migrations of the run store. See schema.h for the policy and docs/schema.md
// for what every table and column means. NEVER edit a shipped script: add a new one.
#include "store/schema.h"

namespace pipeline {
namespace {

// Migration 1: the whole first schema, including the tables reserved for lineage,
// caching, metrics and the model registry, so the next issue only adds rows and code.
//
// Conventions: STRICT tables; times are INTEGER ms since the Unix epoch, UTC; NULL means
// "not yet / unknown"; states are TEXT with a CHECK list, and every state change is
// guarded by allowed_transitions and audited into state_transitions by triggers. The
// audit row takes its time and reason from the changed row itself (state_changed_at_ms
// and reason; for attempts ended_at_ms/started_at_ms and error), so writers must set
// them in the same UPDATE as the state.
constexpr const char kMigration1[] = R"SQL(
CREATE TABLE schema_migrations (
  version        INTEGER PRIMARY KEY,
  name           TEXT NOT NULL,
  script_sha256  TEXT NOT NULL,
  applied_at_ms  INTEGER NOT NULL,
  app_version    TEXT NOT NULL
) STRICT;

-- DAGs and the exact definitions that ran ---------------------------------------------
CREATE TABLE dags (
  id             INTEGER PRIMARY KEY,
  name           TEXT NOT NULL UNIQUE,
  created_at_ms  INTEGER NOT NULL
) STRICT;

CREATE TABLE dag_versions (
  id             INTEGER PRIMARY KEY,
  dag_id         INTEGER NOT NULL REFERENCES dags(id),
  def_sha256     TEXT NOT NULL,
  def_canonical  TEXT NOT NULL,
  source_ref     TEXT,
  created_at_ms  INTEGER NOT NULL,
  UNIQUE (dag_id, def_sha256)
) STRICT;

-- Runs, task instances (logical) and attempts (physical tries) ---------------------------
CREATE TABLE dag_runs (
  id                   INTEGER PRIMARY KEY,
  run_id               TEXT NOT NULL UNIQUE,
  dag_id               INTEGER NOT NULL REFERENCES dags(id),
  dag_version_id       INTEGER NOT NULL REFERENCES dag_versions(id),
  trigger              TEXT NOT NULL
                       CHECK (trigger IN ('manual','test','resume','cron','backfill','api')),
  triggered_by         TEXT,
  logical_date_ms      INTEGER,
  interval_start_ms    INTEGER,
  interval_end_ms      INTEGER,
  params_json          TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(params_json)),
  state                TEXT NOT NULL
                       CHECK (state IN ('queued','running','success','failed','cancelled','lost')),
  dag_file             TEXT,
  base_dir             TEXT,
  created_at_ms        INTEGER NOT NULL,
  started_at_ms        INTEGER,
  ended_at_ms          INTEGER,
  state_changed_at_ms  INTEGER NOT NULL,
  owner_pid            INTEGER,
  owner_host           TEXT,
  reason               TEXT,
  CHECK (trigger NOT IN ('cron','backfill') OR logical_date_ms IS NOT NULL)
) STRICT;
CREATE INDEX ix_dag_runs_created ON dag_runs(created_at_ms DESC, id DESC);
CREATE INDEX ix_dag_runs_dag_created ON dag_runs(dag_id, created_at_ms DESC, id DESC);
CREATE INDEX ix_dag_runs_state_created ON dag_runs(state, created_at_ms DESC, id DESC);
CREATE INDEX ix_dag_runs_running ON dag_runs(owner_host, owner_pid) WHERE state = 'running';

CREATE TABLE task_instances (
  id                   INTEGER PRIMARY KEY,
  dag_run_id           INTEGER NOT NULL REFERENCES dag_runs(id),
  task_name            TEXT NOT NULL,
  map_index            INTEGER NOT NULL DEFAULT -1,
  state                TEXT NOT NULL
                       CHECK (state IN ('pending','running','up_for_retry','success','failed',
                                        'skipped','upstream_failed','cancelled','cached')),
  attempts             INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts         INTEGER NOT NULL DEFAULT 1 CHECK (max_attempts >= 1),
  reason               TEXT,
  cache_key            TEXT,
  created_at_ms        INTEGER NOT NULL,
  started_at_ms        INTEGER,
  ended_at_ms          INTEGER,
  state_changed_at_ms  INTEGER NOT NULL,
  UNIQUE (dag_run_id, task_name, map_index)
) STRICT;
CREATE INDEX ix_ti_cache_key ON task_instances(cache_key) WHERE cache_key IS NOT NULL;

CREATE TABLE task_attempts (
  id                       INTEGER PRIMARY KEY,
  task_instance_id         INTEGER NOT NULL REFERENCES task_instances(id),
  attempt_no               INTEGER NOT NULL CHECK (attempt_no >= 1),
  state                    TEXT NOT NULL
                           CHECK (state IN ('running','succeeded','failed','timed_out','killed',
                                            'lost','cached')),
  pid                      INTEGER,
  host                     TEXT,
  command_json             TEXT CHECK (command_json IS NULL OR json_valid(command_json)),
  log_path                 TEXT,
  exit_code                INTEGER,
  term_signal              INTEGER,
  started_at_ms            INTEGER NOT NULL,
  ended_at_ms              INTEGER,
  duration_ms              INTEGER GENERATED ALWAYS AS (ended_at_ms - started_at_ms) VIRTUAL,
  error                    TEXT,
  cache_source_attempt_id  INTEGER REFERENCES task_attempts(id),
  manifest_json            TEXT CHECK (manifest_json IS NULL OR json_valid(manifest_json)),
  code_digest              TEXT,
  env_digest               TEXT,
  image_digest             TEXT,
  max_rss_kb               INTEGER,
  heartbeat_at_ms          INTEGER,
  log_sha256               TEXT,
  UNIQUE (task_instance_id, attempt_no),
  CHECK (cache_source_attempt_id IS NULL OR state = 'cached')
) STRICT;
CREATE INDEX ix_ta_cache_source ON task_attempts(cache_source_attempt_id)
  WHERE cache_source_attempt_id IS NOT NULL;

-- State machines: allowed_transitions rows are the only legal moves. from_state '' lists
-- the states a row may be created in.
CREATE TABLE allowed_transitions (
  entity      TEXT NOT NULL CHECK (entity IN ('dag_run','task_instance','task_attempt')),
  from_state  TEXT NOT NULL,
  to_state    TEXT NOT NULL,
  PRIMARY KEY (entity, from_state, to_state)
) STRICT, WITHOUT ROWID;
INSERT INTO allowed_transitions(entity, from_state, to_state) VALUES
  ('dag_run', '', 'queued'), ('dag_run', '', 'running'),
  ('dag_run', 'queued', 'running'), ('dag_run', 'queued', 'cancelled'),
  ('dag_run', 'running', 'success'), ('dag_run', 'running', 'failed'),
  ('dag_run', 'running', 'cancelled'), ('dag_run', 'running', 'lost'),
  ('dag_run', 'failed', 'running'), ('dag_run', 'cancelled', 'running'),
  ('dag_run', 'lost', 'running'),

  ('task_instance', '', 'pending'),
  ('task_instance', 'pending', 'running'), ('task_instance', 'pending', 'skipped'),
  ('task_instance', 'pending', 'upstream_failed'), ('task_instance', 'pending', 'cancelled'),
  ('task_instance', 'pending', 'cached'),
  ('task_instance', 'running', 'success'), ('task_instance', 'running', 'failed'),
  ('task_instance', 'running', 'up_for_retry'), ('task_instance', 'running', 'cancelled'),
  ('task_instance', 'up_for_retry', 'running'), ('task_instance', 'up_for_retry', 'cancelled'),
  ('task_instance', 'up_for_retry', 'failed'),
  ('task_instance', 'failed', 'pending'), ('task_instance', 'upstream_failed', 'pending'),
  ('task_instance', 'skipped', 'pending'), ('task_instance', 'cancelled', 'pending'),

  ('task_attempt', '', 'running'), ('task_attempt', '', 'cached'),
  ('task_attempt', 'running', 'succeeded'), ('task_attempt', 'running', 'failed'),
  ('task_attempt', 'running', 'timed_out'), ('task_attempt', 'running', 'killed'),
  ('task_attempt', 'running', 'lost');

-- Append-only audit of every state change (and creation: from_state NULL).
CREATE TABLE state_transitions (
  id          INTEGER PRIMARY KEY,
  dag_run_id  INTEGER NOT NULL REFERENCES dag_runs(id),
  entity      TEXT NOT NULL CHECK (entity IN ('dag_run','task_instance','task_attempt')),
  entity_id   INTEGER NOT NULL,
  from_state  TEXT,
  to_state    TEXT NOT NULL,
  at_ms       INTEGER NOT NULL,
  actor       TEXT,
  reason      TEXT
) STRICT;
CREATE INDEX ix_st_run ON state_transitions(dag_run_id, id);
CREATE TRIGGER trg_st_append_only BEFORE UPDATE ON state_transitions
BEGIN SELECT RAISE(ABORT, 'state_transitions is append-only'); END;

-- dag_runs guard + audit
CREATE TRIGGER trg_dag_runs_new BEFORE INSERT ON dag_runs
WHEN NOT EXISTS (SELECT 1 FROM allowed_transitions
                 WHERE entity = 'dag_run' AND from_state = '' AND to_state = NEW.state)
BEGIN SELECT RAISE(ABORT, 'illegal initial dag_run state'); END;
CREATE TRIGGER trg_dag_runs_guard BEFORE UPDATE OF state ON dag_runs
WHEN NEW.state <> OLD.state AND NOT EXISTS (SELECT 1 FROM allowed_transitions
     WHERE entity = 'dag_run' AND from_state = OLD.state AND to_state = NEW.state)
BEGIN SELECT RAISE(ABORT, 'illegal dag_run state transition'); END;
CREATE TRIGGER trg_dag_runs_audit_new AFTER INSERT ON dag_runs
BEGIN
  INSERT INTO state_transitions(dag_run_id, entity, entity_id, from_state, to_state, at_ms, reason)
  VALUES (NEW.id, 'dag_run', NEW.id, NULL, NEW.state, NEW.state_changed_at_ms, NEW.reason);
END;
CREATE TRIGGER trg_dag_runs_audit AFTER UPDATE OF state ON dag_runs
WHEN NEW.state <> OLD.state
BEGIN
  INSERT INTO state_transitions(dag_run_id, entity, entity_id, from_state, to_state, at_ms, reason)
  VALUES (NEW.id, 'dag_run', NEW.id, OLD.state, NEW.state, NEW.state_changed_at_ms, NEW.reason);
END;

-- task_instances guard + audit
CREATE TRIGGER trg_ti_new BEFORE INSERT ON task_instances
WHEN NOT EXISTS (SELECT 1 FROM allowed_transitions
                 WHERE entity = 'task_instance' AND from_state = '' AND to_state = NEW.state)
BEGIN SELECT RAISE(ABORT, 'illegal initial task_instance state'); END;
CREATE TRIGGER trg_ti_guard BEFORE UPDATE OF state ON task_instances
WHEN NEW.state <> OLD.state AND NOT EXISTS (SELECT 1 FROM allowed_transitions
     WHERE entity = 'task_instance' AND from_state = OLD.state AND to_state = NEW.state)
BEGIN SELECT RAISE(ABORT, 'illegal task_instance state transition'); END;
CREATE TRIGGER trg_ti_audit_new AFTER INSERT ON task_instances
BEGIN
  INSERT INTO state_transitions(dag_run_id, entity, entity_id, from_state, to_state, at_ms, reason)
  VALUES (NEW.dag_run_id, 'task_instance', NEW.id, NULL, NEW.state, NEW.state_changed_at_ms,
          NEW.reason);
END;
CREATE TRIGGER trg_ti_audit AFTER UPDATE OF state ON task_instances
WHEN NEW.state <> OLD.state
BEGIN
  INSERT INTO state_transitions(dag_run_id, entity, entity_id, from_state, to_state, at_ms, reason)
  VALUES (NEW.dag_run_id, 'task_instance', NEW.id, OLD.state, NEW.state,
          NEW.state_changed_at_ms, NEW.reason);
END;

-- task_attempts guard + audit (time: ended_at_ms once ended, else started_at_ms)
CREATE TRIGGER trg_ta_new BEFORE INSERT ON task_attempts
WHEN NOT EXISTS (SELECT 1 FROM allowed_transitions
                 WHERE entity = 'task_attempt' AND from_state = '' AND to_state = NEW.state)
BEGIN SELECT RAISE(ABORT, 'illegal initial task_attempt state'); END;
CREATE TRIGGER trg_ta_guard BEFORE UPDATE OF state ON task_attempts
WHEN NEW.state <> OLD.state AND NOT EXISTS (SELECT 1 FROM allowed_transitions
     WHERE entity = 'task_attempt' AND from_state = OLD.state AND to_state = NEW.state)
BEGIN SELECT RAISE(ABORT, 'illegal task_attempt state transition'); END;
CREATE TRIGGER trg_ta_audit_new AFTER INSERT ON task_attempts
BEGIN
  INSERT INTO state_transitions(dag_run_id, entity, entity_id, from_state, to_state, at_ms, reason)
  VALUES ((SELECT dag_run_id FROM task_instances WHERE id = NEW.task_instance_id),
          'task_attempt', NEW.id, NULL, NEW.state,
          coalesce(NEW.ended_at_ms, NEW.started_at_ms), NEW.error);
END;
CREATE TRIGGER trg_ta_audit AFTER UPDATE OF state ON task_attempts
WHEN NEW.state <> OLD.state
BEGIN
  INSERT INTO state_transitions(dag_run_id, entity, entity_id, from_state, to_state, at_ms, reason)
  VALUES ((SELECT dag_run_id FROM task_instances WHERE id = NEW.task_instance_id),
          'task_attempt', NEW.id, OLD.state, NEW.state,
          coalesce(NEW.ended_at_ms, NEW.started_at_ms), NEW.error);
END;

-- Reserved for the lineage / cache / registry issue (created now: no rewrite later) -----
CREATE TABLE artifacts (
  id             INTEGER PRIMARY KEY,
  kind           TEXT NOT NULL CHECK (kind IN ('dataset','model','metrics','report','code',
                                                'environment','other')),
  uri            TEXT NOT NULL,
  sha256         TEXT NOT NULL CHECK (length(sha256) = 64),
  size_bytes     INTEGER NOT NULL CHECK (size_bytes >= 0),
  file_count     INTEGER,
  name           TEXT,
  props_json     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(props_json)),
  state          TEXT NOT NULL DEFAULT 'live'
                 CHECK (state IN ('live','missing','deleted','quarantined')),
  created_at_ms  INTEGER NOT NULL,
  UNIQUE (uri, sha256)
) STRICT;
CREATE INDEX ix_artifacts_sha ON artifacts(sha256);
CREATE INDEX ix_artifacts_kind ON artifacts(kind, created_at_ms);
CREATE TRIGGER trg_artifact_identity BEFORE UPDATE OF uri, sha256, size_bytes, kind ON artifacts
BEGIN SELECT RAISE(ABORT, 'artifact identity is immutable; insert a new row'); END;

CREATE TABLE events (
  attempt_id   INTEGER NOT NULL REFERENCES task_attempts(id),
  artifact_id  INTEGER NOT NULL REFERENCES artifacts(id),
  direction    TEXT NOT NULL CHECK (direction IN ('in','out')),
  role         TEXT NOT NULL,
  at_ms        INTEGER NOT NULL,
  PRIMARY KEY (attempt_id, direction, role, artifact_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX ix_events_artifact ON events(artifact_id, direction, attempt_id);
CREATE TRIGGER trg_events_append_only BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

CREATE TABLE metrics (
  attempt_id  INTEGER NOT NULL REFERENCES task_attempts(id),
  name        TEXT NOT NULL,
  step        INTEGER NOT NULL DEFAULT 0,
  value       REAL,
  ts_ms       INTEGER NOT NULL,
  PRIMARY KEY (attempt_id, name, step)
) STRICT, WITHOUT ROWID;
CREATE VIEW latest_metrics AS
  SELECT attempt_id, name, step, value, ts_ms FROM (
    SELECT m.*, row_number() OVER (PARTITION BY attempt_id, name
                                   ORDER BY step DESC, ts_ms DESC) AS rn
    FROM metrics m)
  WHERE rn = 1;

CREATE TABLE cache_entries (
  cache_key             TEXT PRIMARY KEY,
  key_version           INTEGER NOT NULL,
  task_name             TEXT NOT NULL,
  manifest_json         TEXT NOT NULL CHECK (json_valid(manifest_json)),
  producing_attempt_id  INTEGER NOT NULL REFERENCES task_attempts(id),
  created_at_ms         INTEGER NOT NULL,
  last_hit_at_ms        INTEGER,
  hit_count             INTEGER NOT NULL DEFAULT 0,
  invalidated_at_ms     INTEGER,
  invalidated_reason    TEXT
) STRICT;
CREATE INDEX ix_cache_producer ON cache_entries(producing_attempt_id);

CREATE TABLE blessings (
  id                    INTEGER PRIMARY KEY,
  model_artifact_id     INTEGER NOT NULL REFERENCES artifacts(id),
  gate                  TEXT NOT NULL,
  verdict               TEXT NOT NULL CHECK (verdict IN ('blessed','rejected')),
  evaluator_attempt_id  INTEGER NOT NULL REFERENCES task_attempts(id),
  baseline_artifact_id  INTEGER REFERENCES artifacts(id),
  criteria_json         TEXT NOT NULL CHECK (json_valid(criteria_json)),
  decided_at_ms         INTEGER NOT NULL
) STRICT;
CREATE INDEX ix_blessings_model ON blessings(model_artifact_id, gate, decided_at_ms);

CREATE TABLE model_aliases (
  model_name   TEXT NOT NULL,
  alias        TEXT NOT NULL,
  artifact_id  INTEGER NOT NULL REFERENCES artifacts(id),
  blessing_id  INTEGER REFERENCES blessings(id),
  set_at_ms    INTEGER NOT NULL,
  set_by       TEXT,
  PRIMARY KEY (model_name, alias)
) STRICT, WITHOUT ROWID;
CREATE INDEX ix_alias_artifact ON model_aliases(artifact_id);
CREATE TABLE model_alias_history (
  id                INTEGER PRIMARY KEY,
  model_name        TEXT NOT NULL,
  alias             TEXT NOT NULL,
  artifact_id       INTEGER,
  prev_artifact_id  INTEGER,
  set_at_ms         INTEGER NOT NULL,
  set_by            TEXT
) STRICT;
CREATE INDEX ix_alias_history ON model_alias_history(model_name, alias, id);
CREATE TRIGGER trg_alias_ins AFTER INSERT ON model_aliases BEGIN
  INSERT INTO model_alias_history(model_name, alias, artifact_id, prev_artifact_id, set_at_ms, set_by)
  VALUES (NEW.model_name, NEW.alias, NEW.artifact_id, NULL, NEW.set_at_ms, NEW.set_by);
END;
CREATE TRIGGER trg_alias_upd AFTER UPDATE ON model_aliases BEGIN
  INSERT INTO model_alias_history(model_name, alias, artifact_id, prev_artifact_id, set_at_ms, set_by)
  VALUES (NEW.model_name, NEW.alias, NEW.artifact_id, OLD.artifact_id, NEW.set_at_ms, NEW.set_by);
END;
CREATE TRIGGER trg_alias_del AFTER DELETE ON model_aliases BEGIN
  INSERT INTO model_alias_history(model_name, alias, artifact_id, prev_artifact_id, set_at_ms, set_by)
  VALUES (OLD.model_name, OLD.alias, NULL, OLD.artifact_id,
          CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), NULL);
END;

CREATE TABLE audit_log (
  id           INTEGER PRIMARY KEY,
  at_ms        INTEGER NOT NULL,
  actor        TEXT,
  action       TEXT NOT NULL,
  target_kind  TEXT,
  target       TEXT,
  detail_json  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail_json))
) STRICT;
CREATE INDEX ix_audit_at ON audit_log(at_ms);
CREATE TRIGGER trg_audit_append_only BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE TABLE ol_outbox (
  id             INTEGER PRIMARY KEY,
  event_json     TEXT NOT NULL CHECK (json_valid(event_json)),
  created_at_ms  INTEGER NOT NULL,
  sent_at_ms     INTEGER,
  send_attempts  INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX ix_outbox_unsent ON ol_outbox(id) WHERE sent_at_ms IS NULL;
)SQL";

// Migration 2: what the lineage/cache/registry code needed beyond the reserved tables.
// - Aliases remember the run that set them (run_id is the external id, TEXT without a
//   foreign key, so history survives `gc` of that run); the history triggers copy it.
// - model_alias_history and audit_log are append-only (UPDATE and DELETE refused).
// - A cached attempt must name a succeeded source attempt (the v1 CHECK only forbade a
//   source on non-cached attempts).
// - Indexes for PreviousManifest (task name), metric history (name) and gc (blessings
//   by evaluator).
constexpr const char kMigration2[] = R"SQL(
ALTER TABLE model_aliases ADD COLUMN run_id TEXT;
ALTER TABLE model_alias_history ADD COLUMN run_id TEXT;

DROP TRIGGER trg_alias_ins;
DROP TRIGGER trg_alias_upd;
CREATE TRIGGER trg_alias_ins AFTER INSERT ON model_aliases BEGIN
  INSERT INTO model_alias_history(model_name, alias, artifact_id, prev_artifact_id, set_at_ms,
                                  set_by, run_id)
  VALUES (NEW.model_name, NEW.alias, NEW.artifact_id, NULL, NEW.set_at_ms, NEW.set_by,
          NEW.run_id);
END;
CREATE TRIGGER trg_alias_upd AFTER UPDATE ON model_aliases BEGIN
  INSERT INTO model_alias_history(model_name, alias, artifact_id, prev_artifact_id, set_at_ms,
                                  set_by, run_id)
  VALUES (NEW.model_name, NEW.alias, NEW.artifact_id, OLD.artifact_id, NEW.set_at_ms,
          NEW.set_by, NEW.run_id);
END;
CREATE TRIGGER trg_alias_history_no_update BEFORE UPDATE ON model_alias_history
BEGIN SELECT RAISE(ABORT, 'model_alias_history is append-only'); END;
CREATE TRIGGER trg_alias_history_no_delete BEFORE DELETE ON model_alias_history
BEGIN SELECT RAISE(ABORT, 'model_alias_history is append-only'); END;
CREATE TRIGGER trg_audit_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE TRIGGER trg_ta_cached_source BEFORE INSERT ON task_attempts
WHEN NEW.state = 'cached' AND NOT EXISTS (SELECT 1 FROM task_attempts
     WHERE id = NEW.cache_source_attempt_id AND state = 'succeeded')
BEGIN SELECT RAISE(ABORT, 'a cached attempt needs a succeeded cache_source_attempt_id'); END;

CREATE INDEX ix_ti_task_name ON task_instances(task_name, dag_run_id);
CREATE INDEX ix_metrics_name ON metrics(name, ts_ms);
CREATE INDEX ix_blessings_evaluator ON blessings(evaluator_attempt_id);
CREATE INDEX ix_alias_run ON model_aliases(run_id) WHERE run_id IS NOT NULL;
)SQL";

// Migration 3: the audit trail moves into the rows it describes (docs/schema.md, "Why
// histories live in their rows"). Before, every task state change inserted a row into
// state_transitions (plus its index entry), so each commit of the engine touched two more
// B-trees than the change itself: ~17% of the engine's CPU on no-op tasks. Now:
// - task_instances.history is the instance's own append-only history, a JSON array of
//   [at_ms, from_state, to_state, reason] entries (from_state null at creation). The
//   writer appends the entry in the same statement that changes the state; the guard
//   triggers recompute the entry from the row and refuse anything else (a state change
//   without its entry, an entry without a state change, an edited or dropped entry).
// - task_attempts need no copy at all: an attempt is created once and ends once, and its
//   row already holds both (started_at_ms; state, ended_at_ms, error). The guard now also
//   freezes those columns once the attempt has ended, so the row is as append-only as
//   the copies were.
// - dag_run transitions (a handful per run) stay rows, in run_transitions.
// - state_transitions becomes a view over all three with the old columns (minus the
//   global id; seq orders one entity's entries), so queries keep working.
// Existing history is carried over: instance rows get their transitions in order, the
// attempt rows were already complete, and the copied rows are dropped.
constexpr const char kMigration3[] = R"SQL(
DROP TRIGGER trg_ti_new;
DROP TRIGGER trg_ti_guard;
DROP TRIGGER trg_ti_audit_new;
DROP TRIGGER trg_ti_audit;
DROP TRIGGER trg_ta_guard;
DROP TRIGGER trg_ta_audit_new;
DROP TRIGGER trg_ta_audit;

ALTER TABLE task_instances ADD COLUMN history TEXT NOT NULL DEFAULT '[]';
UPDATE task_instances SET history = h.entries
FROM (SELECT entity_id, json_group_array(json_array(at_ms, from_state, to_state, reason))
             AS entries
      FROM (SELECT entity_id, at_ms, from_state, to_state, reason FROM state_transitions
            WHERE entity = 'task_instance' ORDER BY entity_id, id)
      GROUP BY entity_id) AS h
WHERE h.entity_id = task_instances.id;
DELETE FROM state_transitions WHERE entity IN ('task_instance', 'task_attempt');
ALTER TABLE state_transitions RENAME TO run_transitions;
DROP INDEX ix_st_run;
CREATE INDEX ix_rt_run ON run_transitions(dag_run_id, id);

CREATE TRIGGER trg_ti_new BEFORE INSERT ON task_instances
WHEN NOT EXISTS (SELECT 1 FROM allowed_transitions
                 WHERE entity = 'task_instance' AND from_state = '' AND to_state = NEW.state)
  OR NEW.history IS NOT json_array(json_array(NEW.state_changed_at_ms, NULL, NEW.state,
                                              NEW.reason))
BEGIN SELECT RAISE(ABORT, 'illegal initial task_instance state or history'); END;
CREATE TRIGGER trg_ti_guard BEFORE UPDATE OF state, history ON task_instances
WHEN (NEW.state <> OLD.state AND NOT EXISTS (SELECT 1 FROM allowed_transitions
      WHERE entity = 'task_instance' AND from_state = OLD.state AND to_state = NEW.state))
  OR NEW.history IS NOT (CASE WHEN NEW.state = OLD.state THEN OLD.history
      ELSE substr(OLD.history, 1, length(OLD.history) - 1)
           || iif(length(OLD.history) > 2, ',', '')
           || json_array(NEW.state_changed_at_ms, OLD.state, NEW.state, NEW.reason) || ']' END)
BEGIN SELECT RAISE(ABORT, 'illegal task_instance state transition or history edit'); END;

CREATE TRIGGER trg_ta_guard BEFORE UPDATE OF state, started_at_ms, ended_at_ms, error
ON task_attempts
WHEN (NEW.state <> OLD.state AND NOT EXISTS (SELECT 1 FROM allowed_transitions
      WHERE entity = 'task_attempt' AND from_state = OLD.state AND to_state = NEW.state))
  OR NEW.started_at_ms IS NOT OLD.started_at_ms
  OR (OLD.state <> 'running' AND (NEW.ended_at_ms IS NOT OLD.ended_at_ms
                                  OR NEW.error IS NOT OLD.error))
  OR (NEW.state <> 'running' AND NEW.ended_at_ms IS NULL)
BEGIN SELECT RAISE(ABORT, 'illegal task_attempt state transition or history edit'); END;

-- One row per state change, in the shape of the old table. rank orders entries of
-- different entities that share a millisecond: run creation, task creation, a task
-- starting, its attempt starting, the attempt ending, other task changes, then the
-- run's own later changes (e.g. its end, or its reopening after tasks were reset).
CREATE VIEW state_transitions AS
SELECT dag_run_id, 'dag_run' AS entity, entity_id, id AS seq, from_state, to_state, at_ms,
       actor, reason, CASE WHEN from_state IS NULL THEN 0 ELSE 9 END AS rank
FROM run_transitions
UNION ALL
SELECT ti.dag_run_id, 'task_instance', ti.id, h.key, h.value ->> 1, h.value ->> 2,
       h.value ->> 0, NULL, h.value ->> 3,
       CASE WHEN h.value ->> 1 IS NULL THEN 1 WHEN h.value ->> 2 = 'running' THEN 2 ELSE 5 END
FROM task_instances ti, json_each(ti.history) h
UNION ALL
SELECT ti.dag_run_id, 'task_attempt', ta.id, 0, NULL,
       CASE WHEN ta.state = 'cached' THEN 'cached' ELSE 'running' END,
       CASE WHEN ta.state = 'cached' THEN coalesce(ta.ended_at_ms, ta.started_at_ms)
            ELSE ta.started_at_ms END,
       NULL, CASE WHEN ta.state = 'cached' THEN ta.error END, 3
FROM task_attempts ta JOIN task_instances ti ON ti.id = ta.task_instance_id
UNION ALL
SELECT ti.dag_run_id, 'task_attempt', ta.id, 1, 'running', ta.state, ta.ended_at_ms, NULL,
       ta.error, 4
FROM task_attempts ta JOIN task_instances ti ON ti.id = ta.task_instance_id
WHERE ta.state NOT IN ('running', 'cached');
)SQL";

// Migration 4: the same CHECK constraints, written as OR'ed comparisons. SQLite evaluates
// "x IN (<more than two constants>)" by building a temporary B-tree of the list every
// time the statement runs (~2 us measured), and the state CHECKs run on every write of a
// task's state: four times per task on the engine's hot path. Equality chains cost a few
// comparisons. Only the CHECK text changes, which SQLite documents as safe to do by
// editing sqlite_schema (lang_altertable.html, "Making Other Kinds Of Table Schema
// Changes"): every stored row satisfies both forms.
constexpr const char kMigration4[] = R"SQL(
PRAGMA writable_schema=ON;
UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (state IN (''pending'',''running'',''up_for_retry'',''success'',''failed'',
                                        ''skipped'',''upstream_failed'',''cancelled'',''cached''))',
'CHECK (state = ''pending'' OR state = ''running'' OR state = ''up_for_retry''
                              OR state = ''success'' OR state = ''failed'' OR state = ''skipped''
                              OR state = ''upstream_failed'' OR state = ''cancelled'' OR state = ''cached'')')
WHERE type = 'table' AND name = 'task_instances';
UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (state IN (''running'',''succeeded'',''failed'',''timed_out'',''killed'',
                                            ''lost'',''cached''))',
'CHECK (state = ''running'' OR state = ''succeeded'' OR state = ''failed''
                                  OR state = ''timed_out'' OR state = ''killed'' OR state = ''lost''
                                  OR state = ''cached'')')
WHERE type = 'table' AND name = 'task_attempts';
UPDATE sqlite_schema SET sql = replace(replace(sql, 'CHECK (kind IN (''dataset'',''model'',''metrics'',''report'',''code'',
                                                ''environment'',''other''))',
'CHECK (kind = ''dataset'' OR kind = ''model'' OR kind = ''metrics''
                                  OR kind = ''report'' OR kind = ''code'' OR kind = ''environment''
                                  OR kind = ''other'')'), 'CHECK (state IN (''live'',''missing'',''deleted'',''quarantined''))',
'CHECK (state = ''live'' OR state = ''missing'' OR state = ''deleted''
                        OR state = ''quarantined'')')
WHERE type = 'table' AND name = 'artifacts';
PRAGMA writable_schema=RESET;
)SQL";

}  // namespace

const std::vector<Migration>& Migrations() {
  static const std::vector<Migration> kAll = {
      {1, "initial schema: runs, tasks, attempts, transitions; reserved lineage tables",
       kMigration1},
      {2, "lineage: alias run ids, append-only history and audit, cached-source guard",
       kMigration2},
      {3, "audit: task histories in their rows, attempt rows as their own record", kMigration3},
      {4, "speed: state and kind CHECKs without IN lists (no temporary B-tree per write)",
       kMigration4},
  };
  return kAll;
}

}  // namespace pipeline
