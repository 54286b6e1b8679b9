#include "core/time_util.h"

#include <cstdio>
#include <ctime>
#include <random>

namespace pipeline {
namespace {

std::tm ToTm(int64_t ms) {
  time_t secs = static_cast<time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return tm;
}

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// Days from 1970-01-01 to y-m-d (proleptic Gregorian), Howard Hinnant's algorithm.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

}  // namespace

std::string FormatIso8601(int64_t ms) {
  std::tm tm = ToTm(ms);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string FormatDate(int64_t ms) {
  std::tm tm = ToTm(ms);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  return buf;
}

std::string FormatLocalish(int64_t ms) {
  std::tm tm = ToTm(ms);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

bool ParseIso8601(std::string_view t, int64_t* out) {
  auto digits = [&](size_t pos, size_t n, int* v) {
    if (pos + n > t.size()) return false;
    int x = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (t[i] < '0' || t[i] > '9') return false;
      x = x * 10 + (t[i] - '0');
    }
    *v = x;
    return true;
  };
  int y, mo, d, h = 0, mi = 0, s = 0;
  if (!digits(0, 4, &y) || t.size() < 10 || t[4] != '-' || !digits(5, 2, &mo) || t[7] != '-' ||
      !digits(8, 2, &d))
    return false;
  size_t pos = 10;
  if (pos < t.size()) {
    if (t[pos] != 'T' && t[pos] != ' ') return false;
    if (!digits(pos + 1, 2, &h) || pos + 3 >= t.size() || t[pos + 3] != ':' || !digits(pos + 4, 2, &mi))
      return false;
    pos += 6;
    if (pos < t.size() && t[pos] == ':') {
      if (!digits(pos + 1, 2, &s)) return false;
      pos += 3;
    }
    if (pos < t.size() && t[pos] == 'Z') ++pos;
    else if (t.substr(pos) == "+00:00") pos += 6;
    if (pos != t.size()) return false;
  }
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1) return false;
  int mdays = kDays[mo - 1] + (mo == 2 && IsLeap(y) ? 1 : 0);
  if (d > mdays || h > 23 || mi > 59 || s > 59) return false;
  int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  *out = ((days * 24 + h) * 60 + mi) * 60000 + int64_t{s} * 1000;
  return true;
}

std::string NewRunId(int64_t now_ms) {
  std::tm tm = ToTm(now_ms);
  static std::mt19937 rng{std::random_device{}()};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d%02d-%06x", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<unsigned>(rng() & 0xffffff));
  return buf;
}

}  // namespace pipeline
