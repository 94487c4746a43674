using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;

namespace Warren.Edge;

/// <summary>How Warren builds its Kestrel hosts.</summary>
public static class WebHosting
{
    /// <summary>
    /// A slim ASP.NET Core builder without configuration sources: Warren's settings come from its own validated
    /// YAML, and the default appsettings/environment sources would install file watchers on the working directory
    /// (measurable CPU on a busy directory, for files Warren never reads).
    /// </summary>
    /// <param name="inlineScheduling">
    /// Run Kestrel's transport and the request pipeline on the thread that completed the socket operation instead of
    /// handing each step to another thread (Kestrel's UnsafePreferInlineScheduling). The edge's pipeline never blocks
    /// (docs/performance.md), and every hand-over costs a thread wake-up: two per request on the public listener.
    /// </param>
    public static WebApplicationBuilder CreateBuilder(bool inlineScheduling = false)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.Sources.Clear();
        if (inlineScheduling)
        {
            builder.WebHost.UseSockets(options => options.UnsafePreferInlineScheduling = true);
        }
        return builder;
    }
}
