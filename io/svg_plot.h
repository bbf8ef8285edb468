// A tiny SVG line-chart writer for training curves: one or more panels stacked vertically, each
// with its own x and y ranges (padded, "nice" tick steps), axes, tick labels, a legend, and one
// <polyline> per series (a series with a single point also gets a <circle> so it is visible).
// Non-finite points are dropped. Pure string output; write it with engine/atomic_file.h.
#pragma once

#include <string>
#include <vector>

namespace vdsr {

struct SvgSeries {
  std::string name;            // legend text
  std::vector<double> x, y;    // same length
  std::string color;           // CSS colour; empty: a default palette by position
};

struct SvgPanel {
  std::string title, x_label, y_label;
  std::vector<SvgSeries> series;
  bool log_y = false;          // log10 y axis (values <= 0 are dropped)
  bool integer_x = false;      // x counts whole things (epochs): ticks on whole numbers only
};

// width x (panel_height per panel) pixels.
std::string svg_line_chart(const std::vector<SvgPanel>& panels, int width = 720,
                           int panel_height = 300);

}  // namespace vdsr
