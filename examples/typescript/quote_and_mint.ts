// A TypeScript integrator's first steps with the node, with @grpc/grpc-js and the
// contract's .proto files loaded at run time (@grpc/proto-loader): preview a mint, mint
// with the preview as the slippage bound, list the holder's activity, and read an error's
// name from the standard rich status (google.rpc.Status / ErrorInfo).
//
//   npm ci && npx tsc -p examples/typescript
//   node examples/typescript/dist/quote_and_mint.js --address 127.0.0.1:50051 \
//     --product DEMO --holder alice --token change-me-alice-00001 --collateral 1000000

import * as path from "path";
import { randomUUID } from "crypto";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import * as protobuf from "protobufjs";

const PROTO_ROOT = path.resolve(__dirname, "..", "..", "..", "proto");

// What the example reads of the responses (every field is documented in proto/iit/v1).
interface QuoteMintResponse { tokens_out: string; fee: string; nav_per_token: string }
interface MintResponse { tokens_minted: string; position: { tokens: string } }
interface ActivityEntry { kind: string; tokens: string; request_id: string }
interface ListActivityResponse { entries: ActivityEntry[]; next_page_token: string }
type Unary<Req, Res> = (
  request: Req, metadata: grpc.Metadata, callback: (error: grpc.ServiceError | null, response?: Res) => void,
) => void;
interface TokenService extends grpc.Client {
  QuoteMint: Unary<object, QuoteMintResponse>;
  Mint: Unary<object, MintResponse>;
  ListActivity: Unary<object, ListActivityResponse>;
}

function call<Req, Res>(method: Unary<Req, Res>, client: grpc.Client, request: Req, metadata: grpc.Metadata): Promise<Res> {
  return new Promise((resolve, reject) =>
    method.call(client, request, metadata, (error, response) => (error ? reject(error) : resolve(response as Res))),
  );
}

// google.rpc.Status and google.rpc.ErrorInfo, enough of them to read an error's reason.
const rpc = protobuf.Root.fromJSON({
  nested: {
    google: { nested: {
      protobuf: { nested: { Any: { fields: { type_url: { type: "string", id: 1 }, value: { type: "bytes", id: 2 } } } } },
      rpc: { nested: {
        Status: { fields: { code: { type: "int32", id: 1 }, message: { type: "string", id: 2 },
                            details: { rule: "repeated", type: "google.protobuf.Any", id: 3 } } },
        ErrorInfo: { fields: { reason: { type: "string", id: 1 }, domain: { type: "string", id: 2 } } },
      } },
    } },
  },
});

/** The error's name (ErrorInfo.reason in the grpc-status-details-bin trailer), if any. */
export function errorReason(error: grpc.ServiceError): string | undefined {
  const [details] = error.metadata?.get("grpc-status-details-bin") ?? [];
  if (!details) return undefined;
  const status = rpc.lookupType("google.rpc.Status").decode(details as Buffer) as unknown as {
    details: { type_url: string; value: Uint8Array }[];
  };
  const info = status.details.find((d) => d.type_url.endsWith("/google.rpc.ErrorInfo"));
  return info ? (rpc.lookupType("google.rpc.ErrorInfo").decode(info.value) as unknown as { reason: string }).reason : undefined;
}

function argument(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

async function main(): Promise<number> {
  const address = argument("address", "127.0.0.1:50051");
  const product_id = argument("product", "DEMO");
  const holder_id = argument("holder", "alice");
  const collateral_amount = argument("collateral", "1000000");
  const token = argument("token", "");

  const definition = protoLoader.loadSync("iit/v1/token.proto", {
    includeDirs: [PROTO_ROOT], keepCase: true, longs: String, enums: String, defaults: true,
  });
  const iit = grpc.loadPackageDefinition(definition) as unknown as {
    iit: { v1: { TokenService: new (address: string, credentials: grpc.ChannelCredentials) => TokenService } };
  };
  const client = new iit.iit.v1.TokenService(address, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  if (token) metadata.set("authorization", `Bearer ${token}`);
  try {
    const quote = await call(client.QuoteMint, client, { product_id, collateral_amount }, metadata);
    console.log(`quote: ${quote.tokens_out} tokens, fee ${quote.fee}, NAV ${quote.nav_per_token}`);
    const minted = await call(client.Mint, client, {
      product_id, holder_id, collateral_amount, min_tokens_out: quote.tokens_out, request_id: `ts-${randomUUID()}`,
    }, metadata);
    console.log(`minted: ${minted.tokens_minted} tokens, now holding ${minted.position.tokens}`);
    const page = await call(client.ListActivity, client, { product_id, holder_id, page_size: 5, newest_first: true }, metadata);
    for (const entry of page.entries) console.log(`activity: ${entry.kind} ${entry.tokens} tokens (${entry.request_id})`);
    return 0;
  } catch (caught) {
    const error = caught as grpc.ServiceError;
    console.log(`failed: ${grpc.status[error.code]} ${errorReason(error)}: ${error.details}`);
    return 1;
  } finally {
    client.close();
  }
}

main().then((code) => process.exit(code));
