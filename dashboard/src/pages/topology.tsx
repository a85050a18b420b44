import cytoscape from 'cytoscape';
import { useEffect, useRef } from 'preact/hooks';
import { Empty, ErrorBox } from '../components/bits.tsx';
import { useApp } from '../context.ts';
import { errorColour, ms, num, pct } from '../format.ts';
import { usePoll } from '../hooks.ts';
import { href, navigate } from '../router.ts';
import type { Topology } from '../types.ts';

const STYLE: cytoscape.StylesheetJson = [
  {
    selector: 'node',
    style: {
      label: 'data(label)',
      'background-color': 'data(colour)',
      color: '#1a202c',
      'font-size': 13,
      'text-valign': 'bottom',
      'text-margin-y': 6,
      width: 34,
      height: 34,
    },
  },
  {
    selector: 'edge',
    style: {
      label: 'data(label)',
      width: 'data(width)',
      'line-color': 'data(colour)',
      'target-arrow-color': 'data(colour)',
      'target-arrow-shape': 'triangle',
      'curve-style': 'bezier',
      'font-size': 11,
      'text-background-color': '#fff',
      'text-background-opacity': 0.85,
      'text-background-padding': '2px',
    },
  },
];

export function TopologyPage() {
  const { api, authVersion } = useApp();
  const topology = usePoll<Topology>(api, '/api/v1/topology?window=5m', 5000, authVersion);
  const container = useRef<HTMLDivElement>(null);
  const graph = useRef<cytoscape.Core | null>(null);
  const shape = useRef('');

  useEffect(() => {
    const cy = cytoscape({ container: container.current, style: STYLE, wheelSensitivity: 0.3 });
    cy.on('tap', 'node', (event) => navigate(href('services', event.target.id())));
    graph.current = cy;
    return () => {
      cy.destroy();
      graph.current = null;
    };
  }, []);

  useEffect(() => {
    const cy = graph.current;
    const data = topology.data;
    if (!cy || !data) return;
    const elements: cytoscape.ElementDefinition[] = [
      ...data.nodes.map((node) => ({
        data: {
          id: node.id,
          label: node.registered ? `${node.id} (${node.healthy}/${node.instances})` : node.id,
          colour: node.instances > 0 && node.healthy === 0 ? '#d33' : node.registered ? '#2b6cb0' : '#a0aec0',
        },
      })),
      ...data.edges.map((edge) => ({
        data: {
          id: `${edge.source}>${edge.target}`,
          source: edge.source,
          target: edge.target,
          label: `${num(edge.rps, 2)} req/s · ${pct(edge.errorRate)}`,
          colour: errorColour(edge.errorRate),
          width: Math.min(2 + edge.rps / 2, 8),
        },
      })),
    ];
    const nextShape = elements.map((element) => element.data.id).join(',');
    if (nextShape === shape.current) {
      for (const element of elements) cy.getElementById(element.data.id!).data(element.data);
      return;
    }
    shape.current = nextShape;
    cy.elements().remove();
    cy.add(elements);
    cy.layout({ name: 'breadthfirst', directed: true, padding: 30, spacingFactor: 1.2 }).run();
  }, [topology.data]);

  const data = topology.data;
  return (
    <section>
      <h1>Topology</h1>
      <p>Calls in the last 5 minutes. Edges show requests/s and error rate; select a service to open it.</p>
      <ErrorBox error={data ? undefined : topology.error} title="Topology unavailable" />
      <div class="graph" ref={container} data-testid="topology-graph" aria-hidden="true" />
      <h2>Services</h2>
      {data && data.nodes.length === 0 ? <Empty>No service yet.</Empty> : null}
      <ul class="inline-list">
        {data?.nodes.map((node) => (
          <li key={node.id}>
            <a href={href('services', node.id)}>{node.id}</a>
          </li>
        ))}
      </ul>
      <h2>Calls</h2>
      {data && data.edges.length === 0 ? <Empty>No traced call in the window.</Empty> : null}
      {data && data.edges.length > 0 ? (
        <table class="edges">
          <thead>
            <tr>
              <th scope="col">caller</th>
              <th scope="col">callee</th>
              <th scope="col">req/s</th>
              <th scope="col">requests</th>
              <th scope="col">errors</th>
              <th scope="col">p50</th>
              <th scope="col">p99</th>
            </tr>
          </thead>
          <tbody>
            {data.edges.map((edge) => (
              <tr key={`${edge.source}>${edge.target}`} data-edge={`${edge.source}>${edge.target}`}>
                <td>
                  <a href={href('services', edge.source)}>{edge.source}</a>
                </td>
                <td>
                  <a href={href('services', edge.target)}>{edge.target}</a>
                </td>
                <td>{num(edge.rps, 2)}</td>
                <td>{edge.requests}</td>
                <td style={{ color: errorColour(edge.errorRate) }}>{pct(edge.errorRate)}</td>
                <td>{ms(edge.p50Ms)}</td>
                <td>{ms(edge.p99Ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
