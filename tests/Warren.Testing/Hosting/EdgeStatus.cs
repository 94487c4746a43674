using System.Net.Http;
using System.Text.Json;

namespace Warren.Testing.Hosting;

/// <summary>The parts of the edge's admin /api/status the tests look at (read over HTTP, as an operator would).</summary>
internal sealed record EdgeStatus(EdgeStatus.Session[] Sessions, EdgeStatus.Service[] Services)
{
    private static readonly HttpClient Admin = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <param name="Link">What the agent link runs on: "sealed records", "TLS" or "plain TCP".</param>
    public sealed record Session(long Id, string Agent, string[] Services, string Link);

    public sealed record Service(string Name, int Sessions);

    /// <summary>GET /api/status on the admin port (30 s: under a load average of 27 on two cores it took 10 s to answer).</summary>
    public static async Task<EdgeStatus> ReadAsync(int adminPort)
    {
        var json = await Admin.GetStringAsync(new Uri($"http://127.0.0.1:{adminPort}/api/status")).ConfigureAwait(false);
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        var sessions = root.GetProperty("sessions").EnumerateArray()
            .Select(s => new Session(s.GetProperty("id").GetInt64(), s.GetProperty("agent").GetString()!, [.. s.GetProperty("services").EnumerateArray().Select(x => x.GetString()!)],
                s.GetProperty("link").GetString()!))
            .ToArray();
        var services = root.GetProperty("services").EnumerateArray()
            .Select(s => new Service(s.GetProperty("name").GetString()!, s.GetProperty("sessions").GetInt32()))
            .ToArray();
        return new EdgeStatus(sessions, services);
    }
}
