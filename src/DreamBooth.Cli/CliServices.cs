using DreamBooth.Pipelines;
using DreamBooth.Training;
using Spectre.Console.Cli;

namespace DreamBooth.Cli;

/// <summary>
/// What the commands need from outside the command line: the data pipeline and text-to-image generation. The real
/// ones by default; tests pass others.
/// </summary>
/// <param name="Images">Loads training image folders.</param>
/// <param name="Sampler">Text-to-image over a run's models (class images, validation); null when none is available.</param>
public sealed record CliServices(TrainingImageLoader Images, ImageSamplerFactory? Sampler)
{
    /// <summary>The production services.</summary>
    public static CliServices Default { get; } = new(ImageSetImages.Loader, PipelineImageSampler.Factory(w => ProgressDisplay.Warn(w)));
}

/// <summary>
/// Spectre.Console.Cli's type registrar over a fixed set of instances: commands get <see cref="CliServices"/> through
/// their constructor. Written here because Spectre ships no container and the project uses no DI library.
/// </summary>
internal sealed class ServiceRegistrar : ITypeRegistrar
{
    private readonly Dictionary<Type, List<Func<object>>> _factories = [];

    public ServiceRegistrar(CliServices services) => RegisterInstance(typeof(CliServices), services);

    public void Register(Type service, Type implementation) => Add(service, () => Create(implementation));
    public void RegisterInstance(Type service, object implementation) => Add(service, () => implementation);
    public void RegisterLazy(Type service, Func<object> factory) => Add(service, factory);
    public ITypeResolver Build() => new Resolver(this);

    private void Add(Type service, Func<object> factory)
    {
        if (!_factories.TryGetValue(service, out var list)) _factories[service] = list = [];
        list.Add(factory);
    }

    private object Create(Type type)
    {
        var ctor = type.GetConstructors().OrderByDescending(c => c.GetParameters().Length).First();
        return ctor.Invoke(ctor.GetParameters().Select(p => Resolve(p.ParameterType)).ToArray());
    }

    // The last registration of a type; IEnumerable<T> gives all registrations of T; unregistered classes are constructed.
    private object? Resolve(Type? type)
    {
        if (type is null) return null;
        if (_factories.TryGetValue(type, out var list)) return list[^1]();
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IEnumerable<>))
        {
            var element = type.GetGenericArguments()[0];
            var items = _factories.TryGetValue(element, out var all) ? all.Select(f => f()).ToArray() : [];
            var array = Array.CreateInstance(element, items.Length);
            Array.Copy(items, array, items.Length);
            return array;
        }
        return type.IsAbstract || type.IsInterface ? null : Create(type);
    }

    private sealed class Resolver(ServiceRegistrar registrar) : ITypeResolver
    {
        public object? Resolve(Type? type) => registrar.Resolve(type);
    }
}
