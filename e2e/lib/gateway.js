// An Apollo Gateway over the given subgraphs, served by Apollo Server on a free
// loopback port. It forwards each incoming request's Authorization header to every
// subgraph, so Switchyard authorizes the gateway's fetches (including the
// _entities ones) as the original caller.
import { ApolloGateway, IntrospectAndCompose, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';

class AuthForwardingDataSource extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    if (context?.authorization) {
      request.http.headers.set('authorization', context.authorization);
    }
  }
}

// subgraphs: [{ name, url }]. The gateway composes them itself from each one's
// `_service { sdl }`, as a gateway in front of a live Switchyard would.
export async function startGateway(subgraphs) {
  const gateway = new ApolloGateway({
    supergraphSdl: new IntrospectAndCompose({ subgraphs }),
    buildService: ({ url }) => new AuthForwardingDataSource({ url }),
  });
  const server = new ApolloServer({ gateway });
  const { url } = await startStandaloneServer(server, {
    listen: { host: '127.0.0.1', port: 0 },
    context: async ({ req }) => ({ authorization: req.headers.authorization }),
  });
  return { url, stop: () => server.stop() };
}
