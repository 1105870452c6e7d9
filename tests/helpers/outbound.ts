import { parseOutboundAllow } from '../../src/net/addresses';
import { createOutboundHttp } from '../../src/net/outbound';

/**
 * The suite's receivers (webhooks, robots, CRM, Twilio) listen on 127.0.0.1, which outbound HTTP refuses by default:
 * tests that send to them say so explicitly, as a deployment does with OUTBOUND_ALLOW=127.0.0.1.
 */
export const LOCAL_ALLOW = parseOutboundAllow('127.0.0.1').allow;

/** The guarded client with 127.0.0.1 allowed. */
export const localOutbound = createOutboundHttp({ allow: LOCAL_ALLOW });
