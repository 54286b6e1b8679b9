#include "engine/runner.h"

namespace pipeline {

bool RealRunner::Start(int64_t token, const SpawnSpec& spec, int64_t* pid, std::string* err) {
  Subprocess* p = set_.Add(spec, err);
  if (!p) return false;
  p->user_data = reinterpret_cast<void*>(static_cast<intptr_t>(token));
  *pid = p->pid();
  return true;
}

void RealRunner::Wait(int64_t timeout_ms, std::vector<AttemptOutcome>* done) {
  for (auto& p : set_.DoWork(timeout_ms)) {
    AttemptOutcome o;
    o.token = static_cast<int64_t>(reinterpret_cast<intptr_t>(p->user_data));
    o.status = p->status();
    o.duration_ms = p->ended_mono_ms() - p->started_mono_ms();
    done->push_back(std::move(o));
  }
}

}  // namespace pipeline
