# The seed's snippet after "Message Queue Consumer", lines 430-470, unchanged.
import pika
import json

class MessageConsumer:
    def __init__(self, host='localhost', queue='user_events'):
        self.connection = pika.BlockingConnection(
            pika.ConnectionParameters(host=host)
        )
        self.channel = self.connection.channel()
        self.queue = queue
        
        # Declare queue
        self.channel.queue_declare(queue=queue, durable=True)
    
    def consume(self, callback, routing_keys=['user.*']):
        """Start consuming messages."""
        for routing_key in routing_keys:
            self.channel.queue_bind(
                exchange='events',
                queue=self.queue,
                routing_key=routing_key
            )
        
        def on_message(channel, method, properties, body):
            try:
                message = json.loads(body)
                callback(message)
                channel.basic_ack(delivery_tag=method.delivery_tag)
            except Exception as e:
                # Reject and requeue on failure
                print(f"Error processing message: {e}")
                channel.basic_nack(delivery_tag=method.delivery_tag, requeue=True)
        
        self.channel.basic_qos(prefetch_count=1)
        self.channel.basic_consume(queue=self.queue, on_message_callback=on_message)
        
        print('Waiting for messages...')
        self.channel.start_consuming()
    
    def close(self):
        self.connection.close()
