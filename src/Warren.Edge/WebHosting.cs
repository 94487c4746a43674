using Microsoft.AspNetCore.Builder;

namespace Warren.Edge;

/// <summary>How Warren builds its Kestrel hosts.</summary>
public static class WebHosting
{
    /// <summary>
    /// A slim ASP.NET Core builder without configuration sources: Warren's settings come from its own validated
    /// YAML, and the default appsettings/environment sources would install file watchers on the working directory
    /// (measurable CPU on a busy directory, for files Warren never reads).
    /// </summary>
    public static WebApplicationBuilder CreateBuilder()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.Sources.Clear();
        return builder;
    }
}
