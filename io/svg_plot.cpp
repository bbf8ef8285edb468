#include "io/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <vector>

namespace vdsr {

namespace {

const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

std::string escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string tick_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", std::fabs(v) < 1e-12 ? 0.0 : v);
  return buf;
}

// A 1-2-5 step giving about `n` intervals over [lo, hi].
double nice_step(double lo, double hi, int n) {
  const double raw = (hi - lo) / n;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

struct Range {
  double lo = 0, hi = 1;
};

Range padded(double lo, double hi) {
  if (!(hi > lo)) {
    const double d = lo == 0 ? 1 : std::fabs(lo) * 0.05;
    return {lo - d, hi + d};
  }
  const double d = (hi - lo) * 0.05;
  return {lo - d, hi + d};
}

}  // namespace

std::string svg_line_chart(const std::vector<SvgPanel>& panels, int width, int panel_height) {
  const int height = panel_height * std::max<int>(1, int(panels.size()));
  const double ml = 70, mr = 20, mt = 30, mb = 45;  // margins inside a panel
  std::ostringstream os;
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
     << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
     << "\" viewBox=\"0 0 " << width << " " << height << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  for (size_t p = 0; p < panels.size(); ++p) {
    const SvgPanel& panel = panels[p];
    const double top = double(p) * panel_height;
    const double x0 = ml, x1 = width - mr, y0 = top + mt, y1 = top + panel_height - mb;
    // Data ranges over every finite point (log10 of y when log_y).
    auto ty = [&](double v) { return panel.log_y ? std::log10(v) : v; };
    auto ok = [&](double x, double y) {
      return std::isfinite(x) && std::isfinite(y) && (!panel.log_y || y > 0);
    };
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (const auto& s : panel.series)
      for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i)
        if (ok(s.x[i], s.y[i])) {
          xlo = std::min(xlo, s.x[i]);
          xhi = std::max(xhi, s.x[i]);
          ylo = std::min(ylo, ty(s.y[i]));
          yhi = std::max(yhi, ty(s.y[i]));
        }
    if (!(xlo <= xhi)) xlo = 0, xhi = 1, ylo = 0, yhi = 1;
    const Range xr = padded(xlo, xhi), yr = padded(ylo, yhi);
    auto px = [&](double x) { return x0 + (x - xr.lo) / (xr.hi - xr.lo) * (x1 - x0); };
    auto py = [&](double y) { return y1 - (ty(y) - yr.lo) / (yr.hi - yr.lo) * (y1 - y0); };

    os << "<g>\n<text x=\"" << num((x0 + x1) / 2) << "\" y=\"" << num(top + 18)
       << "\" text-anchor=\"middle\" font-size=\"13\">" << escape(panel.title) << "</text>\n";
    os << "<rect x=\"" << num(x0) << "\" y=\"" << num(y0) << "\" width=\"" << num(x1 - x0)
       << "\" height=\"" << num(y1 - y0) << "\" fill=\"none\" stroke=\"#444\"/>\n";
    // Ticks and grid.
    const double xs =
        panel.integer_x ? std::max(1.0, nice_step(xr.lo, xr.hi, 8)) : nice_step(xr.lo, xr.hi, 8);
    for (double v = std::ceil(xr.lo / xs) * xs; v <= xr.hi; v += xs)
      os << "<line x1=\"" << num(px(v)) << "\" y1=\"" << num(y0) << "\" x2=\"" << num(px(v))
         << "\" y2=\"" << num(y1) << "\" stroke=\"#ddd\"/><text x=\"" << num(px(v)) << "\" y=\""
         << num(y1 + 14) << "\" text-anchor=\"middle\">" << tick_text(v) << "</text>\n";
    // y ticks as values: linear 1-2-5 steps, or on a log axis spanning a decade or more, the
    // powers of ten (with their 2x and 5x while the span is short).
    std::vector<double> yticks;
    if (!panel.log_y || yr.hi - yr.lo < 1.0) {
      const double lo = panel.log_y ? std::pow(10.0, yr.lo) : yr.lo;
      const double hi = panel.log_y ? std::pow(10.0, yr.hi) : yr.hi;
      const double ys = nice_step(lo, hi, 6);
      for (double v = std::ceil(lo / ys) * ys; v <= hi; v += ys) yticks.push_back(v);
    } else {
      for (double k = std::floor(yr.lo); k <= std::ceil(yr.hi); k += 1.0)
        for (const double m : {1.0, 2.0, 5.0})
          if (m == 1.0 || yr.hi - yr.lo < 3.0) yticks.push_back(m * std::pow(10.0, k));
    }
    for (const double v : yticks) {
      if (panel.log_y && !(v > 0)) continue;
      const double t = panel.log_y ? std::log10(v) : v;
      if (t < yr.lo || t > yr.hi) continue;
      const double yy = y1 - (t - yr.lo) / (yr.hi - yr.lo) * (y1 - y0);
      os << "<line x1=\"" << num(x0) << "\" y1=\"" << num(yy) << "\" x2=\"" << num(x1) << "\" y2=\""
         << num(yy) << "\" stroke=\"#ddd\"/><text x=\"" << num(x0 - 4) << "\" y=\"" << num(yy + 4)
         << "\" text-anchor=\"end\">" << tick_text(v) << "</text>\n";
    }
    os << "<text x=\"" << num((x0 + x1) / 2) << "\" y=\"" << num(y1 + 32)
       << "\" text-anchor=\"middle\">" << escape(panel.x_label) << "</text>\n"
       << "<text transform=\"translate(" << num(16) << " " << num((y0 + y1) / 2)
       << ") rotate(-90)\" text-anchor=\"middle\">" << escape(panel.y_label) << "</text>\n";
    // Series and legend.
    for (size_t s = 0; s < panel.series.size(); ++s) {
      const SvgSeries& ser = panel.series[s];
      const std::string color = ser.color.empty() ? kPalette[s % 6] : ser.color;
      std::ostringstream pts;
      int n = 0;
      double lx = 0, ly = 0;
      for (size_t i = 0; i < std::min(ser.x.size(), ser.y.size()); ++i)
        if (ok(ser.x[i], ser.y[i])) {
          lx = px(ser.x[i]);
          ly = py(ser.y[i]);
          pts << (n++ ? " " : "") << num(lx) << "," << num(ly);
        }
      os << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"1.5\" points=\""
         << pts.str() << "\"><title>" << escape(ser.name) << "</title></polyline>\n";
      if (n == 1)
        os << "<circle cx=\"" << num(lx) << "\" cy=\"" << num(ly) << "\" r=\"3\" fill=\"" << color
           << "\"/>\n";
      const double ly0 = y0 + 14 + 15 * double(s);
      os << "<line x1=\"" << num(x1 - 120) << "\" y1=\"" << num(ly0 - 4) << "\" x2=\"" << num(x1 - 100)
         << "\" y2=\"" << num(ly0 - 4) << "\" stroke=\"" << color << "\" stroke-width=\"2\"/><text x=\""
         << num(x1 - 95) << "\" y=\"" << num(ly0) << "\">" << escape(ser.name) << "</text>\n";
    }
    os << "</g>\n";
  }
  os << "</svg>\n";
  return os.str();
}

}  // namespace vdsr
