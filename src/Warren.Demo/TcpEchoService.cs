using System.Net;
using System.Net.Sockets;

namespace Warren.Demo;

/// <summary>The demo's TCP service: echoes every byte back, half-closing when the client does.</summary>
public sealed class TcpEchoService : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _acceptLoop;

    public TcpEchoService(int port = 0)
    {
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
        _listener.Listen(512);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _acceptLoop = AcceptLoopAsync();
    }

    public int Port { get; }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return;
            }
            _ = EchoAsync(client);
        }
    }

    private async Task EchoAsync(Socket client)
    {
        using var _ = client;
        client.NoDelay = true;
        var buffer = new byte[16 * 1024];
        try
        {
            int n;
            while ((n = await client.ReceiveAsync(buffer, _stopping.Token).ConfigureAwait(false)) > 0)
            {
                await client.SendAsync(buffer.AsMemory(0, n), _stopping.Token).ConfigureAwait(false);
            }
            client.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        _stopping.Dispose();
    }
}
