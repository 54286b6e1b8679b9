// Helpers shared by the subcommands (store access, errors, the user's name).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "pipeline/status.h"
#include "engine/engine.h"
#include "pipeline/dag.h"
#include "pipeline/store.h"

namespace pipeline::cli {

/// Absolute --home directory and the database path in it.
std::string AbsHome(const Globals& g);
/// Opens (creating) the database for writing and marks runs whose owner died as lost.
int OpenForWrite(const Globals& g, std::unique_ptr<Store>* store);
/// Opens an existing database (exit 2 with a hint if there is none).
int OpenForRead(const Globals& g, std::unique_ptr<Store>* store);
/// OpenForRead, then finds |run_id| (or a unique prefix).
int OpenRun(const Globals& g, const std::string& run_id, std::unique_ptr<Store>* store,
            std::optional<RunRecord>* run);
/// Prints "error: <message>" and returns the exit code for |s| (2 for bad input, else 3).
int Fail(const Status& s);
std::string UserName();
/// The default for -j: the number of CPUs.
int DefaultJobs();

/// Runs |dag| (a new run, or |resume|) with a live progress printer; returns the exit code
/// and, if |new_run_id|, the run's id.
int ExecuteRun(const Globals& g, const Dag& dag, RunOptions opts, bool json, const RunRecord* resume,
               std::string* new_run_id);
/// Loads the DAG definition and params a run was started with (for resume/reproduce).
int LoadRunDag(Store* store, const RunRecord& run, Dag* dag);

}  // namespace pipeline::cli
