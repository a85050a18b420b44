export {
  type BodyDecoder,
  type BodyProgress,
  CloseDelimitedDecoder,
  ContentLengthDecoder,
  createBodyDecoder,
} from './body-decoder.ts';
export { ChunkedDecoder, type ChunkedDecoderOptions } from './chunked-decoder.ts';
export {
  errorResponse,
  HTTP_PARSE_ERRORS,
  HttpParseError,
  type HttpParseErrorCode,
  isHttpParseError,
  parseErrorResponse,
  UPSTREAM_PARSE_STATUS,
} from './errors.ts';
export {
  DEFAULT_MAX_HEAD_SIZE,
  DEFAULT_MAX_HEADERS,
  findHeader,
  HEADER_STRIDE,
  type HeadParserOptions,
  type HeadView,
} from './head-parser.ts';
export {
  type HeaderLine,
  type RequestHeadEdits,
  type ResponseHeadEdits,
  writeRequestHead,
  writeResponseHead,
} from './head-writer.ts';
export { classifyHeader, HeaderKind, REQUEST_HOP_BY_HOP, RESPONSE_HOP_BY_HOP } from './header-kind.ts';
export { reasonPhrase } from './reasons.ts';
export {
  createRequestParser,
  type RequestFraming,
  type RequestHead,
  RequestParser,
  type RequestParserOptions,
  type RequestSnapshot,
} from './request-parser.ts';
export {
  createResponseParser,
  type ResponseFraming,
  type ResponseHead,
  ResponseParser,
  type ResponseSnapshot,
} from './response-parser.ts';
