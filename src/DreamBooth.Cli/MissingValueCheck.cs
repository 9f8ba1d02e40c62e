using System.Reflection;
using Spectre.Console.Cli;

namespace DreamBooth.Cli;

/// <summary>
/// Checks string option values Spectre.Console.Cli lets through, for every command at once:
/// <list type="bullet">
/// <item>an option written last without its value (<c>generate ... --output</c>) gets the internal placeholder
/// "__default_command" instead of failing, so the command would write a folder of that name: "missing value";</item>
/// <item>a path option (value name DIR, FILE or PATH) given as an empty or blank string would reach .NET's path APIs,
/// which throw an ArgumentException (an internal error): "the path is empty".</item>
/// </list>
/// Both become one-line errors naming the option.
/// </summary>
internal sealed class MissingValueCheck : ICommandInterceptor
{
    private const string Placeholder = "__default_command";
    private static readonly HashSet<string> PathValueNames = new(StringComparer.Ordinal) { "DIR", "FILE", "PATH" };

    public void Intercept(CommandContext context, CommandSettings settings)
    {
        foreach (var property in settings.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.PropertyType != typeof(string) || property.GetCustomAttribute<CommandOptionAttribute>() is not { } option) continue;
            var value = property.GetValue(settings) as string;
            string name = option.LongNames.Count > 0 ? "--" + option.LongNames[0] : "-" + option.ShortNames[0];
            if (value is Placeholder) throw new DreamBoothException($"{name}: missing value");
            if (value is not null && string.IsNullOrWhiteSpace(value) && option.ValueName is { } valueName && PathValueNames.Contains(valueName)
                && Given(context, option, out var written))
                throw new DreamBoothException($"{written}: the path is empty");
        }
    }

    // Whether the command line names the option (a default value of "" is the command's to handle), and as what.
    private static bool Given(CommandContext context, CommandOptionAttribute option, out string written)
    {
        var names = option.LongNames.Select(n => "--" + n).Concat(option.ShortNames.Select(n => "-" + n)).ToList();
        foreach (var arg in context.Arguments)
            foreach (var n in names)
                if (arg == n || arg.StartsWith(n + "=", StringComparison.Ordinal) || arg.StartsWith(n + ":", StringComparison.Ordinal))
                {
                    written = n;
                    return true;
                }
        written = "";
        return false;
    }

    public void InterceptResult(CommandContext context, CommandSettings settings, ref int result)
    {
    }
}
