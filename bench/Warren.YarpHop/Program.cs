using System.Net;
using Warren.LoadTest;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

// warren-yarphop --port P --backend URL [--routes HOST=URL,HOST=URL]
// One hop: every request to 127.0.0.1:P goes to the URL its Host header names in --routes, else to --backend.
// Everything is YARP's default: the forwarder's HttpMessageInvoker comes from ForwarderHttpClientFactory with an
// empty config (what app.MapForwarder uses), ForwarderRequestConfig.Empty and HttpTransformer.Default. Two
// departures: no logging providers (the floor: nothing logged, so ASP.NET starts no Activity per request) and no
// request body limit (the benchmark uploads 1 GiB).
var options = Args.Parse(args);
var port = options.Int("port", 18082);
var fallback = options.Required("backend");
var routes = options.Get("routes", "").Split(',', StringSplitOptions.RemoveEmptyEntries)
    .Select(r => r.Split('=', 2))
    .ToDictionary(r => r[0], r => r.Length == 2 ? r[1] : throw new ArgumentException($"--routes: '{r[0]}' is not HOST=URL"),
        StringComparer.OrdinalIgnoreCase);

var builder = WebApplication.CreateBuilder();
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(k =>
{
    k.Limits.MaxRequestBodySize = null;
    k.Listen(IPAddress.Loopback, port);
});
builder.Services.AddHttpForwarder();
await using var app = builder.Build();

using var client = new ForwarderHttpClientFactory().CreateClient(new ForwarderHttpClientContext { NewConfig = HttpClientConfig.Empty });
app.Map("/{**catch-all}", async (HttpContext context, IHttpForwarder forwarder) =>
{
    var destination = routes.GetValueOrDefault(context.Request.Host.Host, fallback);
    await forwarder.SendAsync(context, destination, client, ForwarderRequestConfig.Empty, HttpTransformer.Default);
});
await app.RunAsync();
