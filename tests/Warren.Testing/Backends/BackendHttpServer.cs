using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Warren.Edge;

namespace Warren.Testing.Backends;

/// <summary>
/// A purpose-built Kestrel backend for one test: <paramref name="handler"/> decides how it (mis)behaves. It counts
/// the TCP connections it accepted, so a test can tell whether the agent dialled it at all.
/// </summary>
internal sealed class BackendHttpServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Counter _connections;

    private BackendHttpServer(WebApplication app, Counter connections, int port)
    {
        _app = app;
        _connections = connections;
        Port = port;
    }

    public int Port { get; }

    public Uri Uri => new($"http://127.0.0.1:{Port}");

    public int Connections => _connections.Value;

    public static async Task<BackendHttpServer> StartAsync(RequestDelegate handler)
    {
        var builder = WebHosting.CreateBuilder();
        builder.Logging.ClearProviders();
        ListenOptions? listener = null;
        var connections = new Counter();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = null;
            k.Listen(IPAddress.Loopback, 0, l =>
            {
                l.Use(next => context =>
                {
                    connections.Increment();
                    return next(context);
                });
                listener = l;
            });
        });
        var app = builder.Build();
        app.UseWebSockets();
        app.Run(handler);
        await app.StartAsync().ConfigureAwait(false);
        return new BackendHttpServer(app, connections, listener!.IPEndPoint!.Port);
    }

    public async ValueTask DisposeAsync()
    {
        // Handlers wait on RequestAborted; a short grace is plenty, and a test never hangs on a stuck one.
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await _app.StopAsync(grace.Token).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class Counter
    {
        private int _value;

        public int Value => Volatile.Read(ref _value);

        public void Increment() => Interlocked.Increment(ref _value);
    }
}
