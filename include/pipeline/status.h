// Status and Result<T>: expected failures are values (leveldb's Status idea).
//
// An OK status carries no message. Functions that can fail return Status, or
// Result<T> when they also produce a value. Exceptions thrown by third-party
// libraries (yaml-cpp, nlohmann::json) stop at the adapter that calls them.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace pipeline {

class Status {
 public:
  enum class Code {
    kOk,
    kInvalidArgument,     ///< bad user input: DAG file, CLI flag, param (exit 2)
    kNotFound,            ///< a named run, task or file does not exist
    kIOError,             ///< the OS refused: open, write, spawn
    kCorruption,          ///< a database or file is not what we wrote
    kFailedPrecondition,  ///< e.g. database newer than this binary, run not resumable
    kInternal,
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string msg) { return Status(Code::kInvalidArgument, std::move(msg)); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status IOError(std::string msg) { return Status(Code::kIOError, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status FailedPrecondition(std::string msg) {
    return Status(Code::kFailedPrecondition, std::move(msg));
  }
  static Status Internal(std::string msg) { return Status(Code::kInternal, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  /// "invalid argument: <message>" style text for logs; users see message().
  std::string ToString() const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

/// A value or the Status explaining why there is none.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace pipeline
