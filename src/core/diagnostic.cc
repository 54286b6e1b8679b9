#include "pipeline/diagnostic.h"

#include <string>

namespace pipeline {

std::string_view LineOf(std::string_view text, int line) {
  if (line < 1) return {};
  size_t pos = 0;
  for (int i = 1; i < line; ++i) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) return {};
    pos = nl + 1;
  }
  size_t end = text.find('\n', pos);
  std::string_view out = text.substr(pos, end == std::string_view::npos ? text.size() - pos : end - pos);
  if (!out.empty() && out.back() == '\r') out.remove_suffix(1);
  return out;
}

std::string FormatDiagnostic(const Diagnostic& d, int underline) {
  std::string out;
  if (!d.file.empty()) {
    out += d.file;
    if (d.line > 0) {
      out += ':' + std::to_string(d.line);
      if (d.col > 0) out += ':' + std::to_string(d.col);
    }
    out += ": ";
  }
  out += "error: ";
  out += d.message;
  out += '\n';
  if (d.line > 0 && !d.source_line.empty()) {
    // Long lines are cut around the column so the caret stays visible (ninja cuts at 72).
    constexpr size_t kMaxWidth = 120;
    std::string src = d.source_line;
    size_t col = d.col > 0 ? static_cast<size_t>(d.col - 1) : 0;
    size_t start = 0;
    if (src.size() > kMaxWidth && col > kMaxWidth / 2) {
      start = col - kMaxWidth / 2;
      src = "..." + src.substr(start);
      col = col - start + 3;
    }
    if (src.size() > kMaxWidth) src = src.substr(0, kMaxWidth) + "...";
    out += "    " + src + '\n';
    std::string pad;
    for (size_t i = 0; i < col && i < src.size(); ++i) pad += src[i] == '\t' ? '\t' : ' ';
    out += "    " + pad + '^';
    for (int i = 1; i < underline; ++i) out += '~';
    out += '\n';
  }
  return out;
}

}  // namespace pipeline
