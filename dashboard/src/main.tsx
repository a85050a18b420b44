import { render } from 'preact';
import { createApi } from './api.ts';
import { App } from './app.tsx';
import './styles.css';

render(<App api={createApi()} />, document.getElementById('app')!);
