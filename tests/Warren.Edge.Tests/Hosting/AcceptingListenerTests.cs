using System.Net;
using System.Net.Sockets;
using Warren.Edge.Hosting;

namespace Warren.Edge.Tests.Hosting;

/// <summary>
/// The accept loop of the agents and edge-to-edge listeners (Hosting/AcceptingListener.cs). Disposing it closes the
/// connections still open while their handlers may not have started yet: a handler then finds its socket closed.
/// </summary>
public sealed class AcceptingListenerTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_handler_that_starts_after_disposal_closed_its_socket_still_gets_the_remote_address_and_disposal_ends()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var seen = new TaskCompletionSource<(EndPoint? Remote, bool Closed)>(TaskCreationOptions.RunContinuationsAsynchronously);
        AcceptingListener? listener = null;
        listener = new AcceptingListener(Listen(), 10, async (client, remote) =>
        {
            started.SetResult();
            await go.Task; // held until the listener has closed this connection
            bool closed;
            try
            {
                _ = client.RemoteEndPoint;
                closed = false;
            }
            catch (ObjectDisposedException)
            {
                closed = true;
            }
            seen.SetResult((remote, closed));
            listener!.Release(client);
        }, (_, _) => { });
        using var client = await StartAndConnectAsync(listener, started.Task);

        var disposing = listener.DisposeAsync().AsTask();
        await WaitForCloseAsync(client); // the listener cut the connection
        go.SetResult();
        await disposing.WaitAsync(Deadline);

        var (remote, socketClosed) = await seen.Task.WaitAsync(Deadline);
        Assert.True(socketClosed);
        Assert.Equal(client.LocalEndPoint, remote);
    }

    [Fact]
    public async Task A_handler_that_faults_does_not_fail_the_listeners_disposal()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        AcceptingListener? listener = null;
        listener = new AcceptingListener(Listen(), 10, async (client, _) =>
        {
            await Task.Yield();
            try
            {
                started.SetResult();
                throw new InvalidOperationException("a handler's own bug");
            }
            finally
            {
                listener!.Release(client);
            }
        }, (_, _) => { });
        using var client = await StartAndConnectAsync(listener, started.Task);

        await listener.DisposeAsync().AsTask().WaitAsync(Deadline);
    }

    /// <summary>Starts the accept loop, connects one client and waits until its handler runs.</summary>
    private static async Task<Socket> StartAndConnectAsync(AcceptingListener listener, Task handlerStarted)
    {
        listener.Start();
        var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync((IPEndPoint)listener.LocalEndPoint).WaitAsync(Deadline);
        await handlerStarted.WaitAsync(Deadline);
        return client;
    }

    private static Socket Listen()
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        socket.Listen(16);
        return socket;
    }

    private static async Task WaitForCloseAsync(Socket client)
    {
        var buffer = new byte[1];
        try
        {
            Assert.Equal(0, await client.ReceiveAsync(buffer).WaitAsync(Deadline));
        }
        catch (SocketException)
        {
            // A reset is a close too.
        }
    }
}
