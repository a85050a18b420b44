/** A uPlot time series that follows its container's width. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface SeriesSpec {
  label: string;
  colour: string;
  /** Formats the value in the legend. */
  format?: (value: number | null) => string;
}

interface ChartProps {
  title: string;
  /** x (epoch seconds) first, then one array per series. */
  data: (number | null)[][];
  series: SeriesSpec[];
  height?: number;
}

export function Chart({ title, data, series, height = 200 }: ChartProps) {
  const container = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const element = container.current!;
    const options: uPlot.Options = {
      width: Math.max(element.clientWidth, 200),
      height,
      series: [
        {},
        ...series.map((spec) => ({
          label: spec.label,
          stroke: spec.colour,
          width: 2,
          value: spec.format ? (_: uPlot, value: number | null) => spec.format!(value) : undefined,
        })),
      ],
      axes: [{}, { size: 60 }],
      scales: {
        // At least the last two minutes, so the first samples do not stretch over years.
        x: {
          time: true,
          range: (_u, min, max) => {
            const end = max ?? Date.now() / 1000;
            return [Math.min(min ?? end, end - 120), end];
          },
        },
        y: { range: (_u, min, max) => [Math.min(0, min ?? 0), Math.max(1, max ?? 1) * 1.1] },
      },
    };
    plot.current = new uPlot(options, data as uPlot.AlignedData, element);
    showRecent(plot.current, data);
    const observer = new ResizeObserver(() => {
      plot.current?.setSize({ width: Math.max(element.clientWidth, 200), height });
    });
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [height]);

  useEffect(() => {
    if (!plot.current) return;
    plot.current.setData(data as uPlot.AlignedData);
    showRecent(plot.current, data);
  }, [data]);

  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={container} role="img" aria-label={title} />
    </figure>
  );
}

/**
 * At least the last two minutes on the time axis. uPlot's own range for a single sample (the first
 * one after a page load) spans years, and its scale range function is not consulted for it.
 */
function showRecent(chart: uPlot, data: (number | null)[][]): void {
  const times = data[0] ?? [];
  const last = times[times.length - 1] ?? Date.now() / 1000;
  const first = times[0] ?? last;
  chart.setScale('x', { min: Math.min(first, last - 120), max: last });
}
